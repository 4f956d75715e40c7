using k8s.Models;
using LoadBalancing.Proxy.Kubernetes.Ingress;
using LoadBalancing.Proxy.Kubernetes.Tests.Support;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Ingress;

/// <summary>
/// Ingresses of our class become routes and Kubernetes-fed clusters the proxy accepts; what cannot be used is named
/// and never keeps another Ingress's routes out.
/// </summary>
public sealed class IngressTranslatorTests
{
    private const string Controller = "loadbalancing.dev/proxy";

    private static readonly V1IngressClass Ours = new() { Metadata = new() { Name = "lb" }, Spec = new() { Controller = Controller } };
    private static readonly V1IngressClass Theirs = new() { Metadata = new() { Name = "nginx" }, Spec = new() { Controller = "k8s.io/ingress-nginx" } };

    [Fact]
    public void RulesBecomeRoutes_BackendsBecomeServiceClusters_AndTheResultValidates()
    {
        var ingress = Ingress("shop", "web", rules:
        [
            Rule("shop.example.com", Path("/", "Prefix", "web", port: 80), Path("/checkout", "Exact", "checkout", portName: "http")),
            Rule("*.example.com", Path("/static", "ImplementationSpecific", "web", port: 80)),
        ]);

        var result = Translate([ingress], [Service("shop", "web", ("http", 80)), Service("shop", "checkout", ("http", 8080), ("admin", 9000))]);

        Assert.Empty(result.Problems);
        Assert.Equal(["shop/web"], result.Admitted);
        Assert.Equal(
            [
                ("shop.example.com", "/", PathMatchType.Prefix, "ingress:shop/web:http"),
                ("shop.example.com", "/checkout", PathMatchType.Exact, "ingress:shop/checkout:http"),
                ("*.example.com", "/static", PathMatchType.Prefix, "ingress:shop/web:http"),
            ],
            result.Set.Routes.Select(r => (string.Join(",", r.Hosts), r.Path, r.PathType, r.Cluster!)));
        var web = result.Set.Clusters["ingress:shop/web:http"].Kubernetes!;
        Assert.Equal(("shop", "web", "http"), (web.Namespace, web.Service, web.Port));
        RouteSets.Validates(result.Set);
    }

    [Fact]
    public void OnlyOurClass_TheLegacyAnnotation_AndTheDefaultClass_AreOurs()
    {
        var classes = new[] { Ours, Theirs };
        var mine = Ingress("a", "mine", className: "lb", rules: [Rule("a.test", Path("/", "Prefix", "web", port: 80))]);
        var nginx = Ingress("a", "nginx", className: "nginx", rules: [Rule("b.test", Path("/", "Prefix", "web", port: 80))]);
        var annotated = Ingress("a", "annotated", className: null, rules: [Rule("c.test", Path("/", "Prefix", "web", port: 80))]);
        annotated.Metadata.Annotations = new Dictionary<string, string> { [IngressClassSelector.LegacyClassAnnotation] = "lb" };
        var unclassed = Ingress("a", "unclassed", className: null, rules: [Rule("d.test", Path("/", "Prefix", "web", port: 80))]);
        var services = new[] { Service("a", "web", (null, 80)) };

        var withoutDefault = IngressTranslator.Translate([mine, nginx, annotated, unclassed], new IngressClassSelector(classes, Controller), services);
        var defaultOurs = new V1IngressClass
        {
            Metadata = new() { Name = "lb", Annotations = new Dictionary<string, string> { [IngressClassSelector.DefaultClassAnnotation] = "true" } },
            Spec = new() { Controller = Controller },
        };
        var withDefault = IngressTranslator.Translate([mine, nginx, annotated, unclassed], new IngressClassSelector([defaultOurs, Theirs], Controller), services);

        Assert.Equal(["a/annotated", "a/mine"], withoutDefault.Admitted.Order(StringComparer.Ordinal));
        Assert.Equal(["a/annotated", "a/mine", "a/unclassed"], withDefault.Admitted.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void TheOlderIngressKeepsAContestedPath_TheNewerKeepsTheRest()
    {
        var older = Ingress("a", "older", created: new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), rules: [Rule("x.test", Path("/api", "Prefix", "v1", port: 80))]);
        var newer = Ingress("b", "newer", created: new DateTime(2026, 2, 1, 0, 0, 0, DateTimeKind.Utc), rules: [Rule("x.test", Path("/api/", "Prefix", "v2", port: 80), Path("/other", "Prefix", "v2", port: 80))]);

        var result = Translate([newer, older], [Service("a", "v1", (null, 80)), Service("b", "v2", (null, 80))]);

        Assert.Equal(["ingress:a/v1:-", "ingress:b/v2:-"], result.Set.Routes.Select(r => r.Cluster!));
        Assert.Equal("/other", result.Set.Routes[1].Path);
        var problem = Assert.Single(result.Problems);
        Assert.Equal("b/newer", problem.Ingress);
        Assert.Contains("already routed by the older Ingress a/older", problem.Problem, StringComparison.Ordinal);
        RouteSets.Validates(result.Set);
    }

    [Fact]
    public void AnUnresolvableBackend_Answers503_AndNamesTheReason()
    {
        var ingress = Ingress("a", "broken", rules:
        [
            Rule("x.test", Path("/missing", "Prefix", "nope", port: 80), Path("/port", "Prefix", "web", port: 81), Path("relative", "Prefix", "web", port: 80), Path("/a b", "Prefix", "web", port: 80)),
        ]);

        var result = Translate([ingress], [Service("a", "web", (null, 80))]);

        Assert.All(result.Set.Routes, r => Assert.Equal(503, r.DirectResponse?.StatusCode));
        Assert.Equal(2, result.Set.Routes.Count);
        Assert.Equal(
            [
                "rules[0].http.paths[0]: Service a/nope does not exist; the path answers 503.",
                "rules[0].http.paths[1]: Service a/web has no port 81; the path answers 503.",
                "rules[0].http.paths[2]: path 'relative' does not start with '/'; skipped.",
                "rules[0].http.paths[3]: the proxy cannot route it (ingress:a/broken:0:3:Path: '/a b' contains a space or a control character; paths are matched decoded, so write the character itself.); skipped.",
            ],
            result.Problems.Select(p => p.Problem));
        RouteSets.Validates(result.Set);
    }

    [Fact]
    public void DefaultBackend_IsTheCatchAllRoute()
    {
        var ingress = Ingress("a", "fallback", rules: []);
        ingress.Spec.DefaultBackend = new V1IngressBackend { Service = new V1IngressServiceBackend { Name = "web", Port = new V1ServiceBackendPort { Number = 80 } } };

        var result = Translate([ingress], [Service("a", "web", ("http", 80))]);

        var route = Assert.Single(result.Set.Routes);
        Assert.Empty(route.Hosts);
        Assert.Equal("/", route.Path);
        Assert.Equal("ingress:a/web:http", route.Cluster);
        RouteSets.Validates(result.Set);
    }

    private static IngressTranslation Translate(V1Ingress[] ingresses, V1Service[] services) =>
        IngressTranslator.Translate(ingresses, new IngressClassSelector([Ours, Theirs], Controller), services);

    private static V1Ingress Ingress(string ns, string name, V1IngressRule[] rules, string? className = "lb", DateTime? created = null) => new()
    {
        Metadata = new V1ObjectMeta { NamespaceProperty = ns, Name = name, CreationTimestamp = created ?? new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc) },
        Spec = new V1IngressSpec { IngressClassName = className, Rules = rules },
    };

    private static V1IngressRule Rule(string? host, params V1HTTPIngressPath[] paths) =>
        new() { Host = host, Http = new V1HTTPIngressRuleValue { Paths = paths } };

    internal static V1HTTPIngressPath Path(string path, string pathType, string service, int? port = null, string? portName = null) => new()
    {
        Path = path,
        PathType = pathType,
        Backend = new V1IngressBackend { Service = new V1IngressServiceBackend { Name = service, Port = new V1ServiceBackendPort { Number = port, Name = portName } } },
    };

    private static V1Service Service(string ns, string name, params (string? Name, int Port)[] ports) => new()
    {
        Metadata = new V1ObjectMeta { NamespaceProperty = ns, Name = name },
        Spec = new V1ServiceSpec { Ports = [.. ports.Select(p => new V1ServicePort { Name = p.Name, Port = p.Port })] },
    };
}
