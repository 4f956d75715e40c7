using k8s.Models;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Kubernetes.Backends;
using LoadBalancing.Proxy.Kubernetes.Ingress;
using LoadBalancing.Proxy.Kubernetes.Tests.Ingress;
using LoadBalancing.Proxy.Kubernetes.Tests.Gateway;
using LoadBalancing.Proxy.Kubernetes.Tests.Support;
using static LoadBalancing.Kubernetes.Tests.Support.Objects;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Backends;

/// <summary>
/// A Service's <c>loadbalancing.dev/*</c> annotations set the policy of every cluster made for it, Ingress and Gateway
/// alike; a wrong one leaves the defaults and is reported, never ignored.
/// </summary>
public sealed class ServicePolicyTests
{
    private const string Controller = "loadbalancing.dev/proxy";

    [Fact]
    public void Annotations_SetTheAlgorithm_HashKey_Timeouts_AndLimit_OfTheServicesCluster()
    {
        var result = Translate(new Dictionary<string, string>
        {
            [ServicePolicy.Algorithm] = "ringhash",
            [ServicePolicy.HashKey] = "header:X-User",
            [ServicePolicy.ConnectTimeout] = "250ms",
            [ServicePolicy.ResponseHeaderTimeout] = "1m",
            [ServicePolicy.MaxConcurrentRequests] = "500",
            [ServicePolicy.MaxRequestsPerEndpoint] = "50",
        });

        Assert.Empty(result.Problems);
        var cluster = result.Set.Clusters["ingress:a/web:http"];
        Assert.Equal((500, 50), (cluster.MaxConcurrentRequests, cluster.MaxRequestsPerEndpoint));
        Assert.Equal(LoadBalancingAlgorithm.RingHash, cluster.Algorithm);
        Assert.Equal((HashKeySource.Header, "X-User"), (cluster.HashKey.Source, cluster.HashKey.Name));
        Assert.Equal(TimeSpan.FromMilliseconds(250), cluster.ConnectTimeout);
        Assert.Equal(TimeSpan.FromMinutes(1), cluster.ResponseHeaderTimeout);
        RouteSets.Validates(result.Set);
    }

    [Theory]
    [InlineData("kubernetes.io/h2c", UpstreamProtocol.Http2)]
    [InlineData("grpc", UpstreamProtocol.Http2)]
    [InlineData("kubernetes.io/ws", UpstreamProtocol.Http1)]
    [InlineData("example.com/custom", null)]
    [InlineData(null, null)]
    public void PortAppProtocol_ChoosesTheClustersUpstreamProtocol(string? appProtocol, UpstreamProtocol? expected)
    {
        var result = Translate(null, appProtocol);

        Assert.Empty(result.Problems);
        Assert.Equal(expected, result.Set.Clusters["ingress:a/web:http"].Protocol);
        RouteSets.Validates(result.Set);
    }

    [Theory]
    [InlineData("http:/healthz", HealthCheckProtocol.Http, "/healthz", null)]
    [InlineData("grpc", HealthCheckProtocol.Grpc, null, null)]
    [InlineData("GRPC:shop.Cart", HealthCheckProtocol.Grpc, null, "shop.Cart")]
    [InlineData("tcp", HealthCheckProtocol.Tcp, null, null)]
    public void HealthCheckAnnotation_GivesTheServicesClustersAnActiveCheck(string annotation, HealthCheckProtocol protocol, string? path, string? service)
    {
        var result = Translate(new Dictionary<string, string> { [ServicePolicy.HealthCheck] = annotation, [ServicePolicy.HealthCheckInterval] = "3s" });

        Assert.Empty(result.Problems);
        var check = result.Set.Clusters["ingress:a/web:http"].HealthCheck;
        Assert.NotNull(check);
        Assert.Equal((protocol, path, service, TimeSpan.FromSeconds(3)), (check.Protocol, check.Path, check.ServiceName, check.Interval));
        RouteSets.Validates(result.Set);
    }

    [Theory]
    [InlineData("cookie", null, "lb-affinity", null)]
    [InlineData("Cookie:route", null, "route", null)]
    [InlineData("cookie:route", "12h", "route", 12.0)]
    public void SessionAffinityAnnotation_TurnsTheCookieOn(string annotation, string? maxAge, string cookie, double? hours)
    {
        var annotations = new Dictionary<string, string> { [ServicePolicy.SessionAffinity] = annotation };
        if (maxAge is not null)
        {
            annotations[ServicePolicy.SessionAffinityMaxAge] = maxAge;
        }

        var result = Translate(annotations);

        Assert.Empty(result.Problems);
        var affinity = result.Set.Clusters["ingress:a/web:http"].SessionAffinity;
        Assert.NotNull(affinity);
        Assert.Equal((true, cookie, hours), (affinity.Enabled, affinity.CookieName, affinity.MaxAge?.TotalHours));
        RouteSets.Validates(result.Set);
    }

    [Theory]
    [InlineData("header:X-User", HashKeySource.Header, "X-User")]
    [InlineData("cookie:session", HashKeySource.Cookie, "session")]
    [InlineData("QUERY:id", HashKeySource.QueryParameter, "id")]
    [InlineData("client-ip", HashKeySource.ClientIp, null)]
    [InlineData("path", HashKeySource.Path, null)]
    public void HashKeyForms_MapOntoTheProxysHashKey(string annotation, HashKeySource source, string? name)
    {
        var result = Translate(new Dictionary<string, string> { [ServicePolicy.Algorithm] = "Maglev", [ServicePolicy.HashKey] = annotation });

        Assert.Empty(result.Problems);
        var cluster = result.Set.Clusters["ingress:a/web:http"];
        Assert.Equal((LoadBalancingAlgorithm.Maglev, source, name), (cluster.Algorithm, cluster.HashKey.Source, cluster.HashKey.Name));
    }

    [Theory]
    [InlineData(ServicePolicy.Algorithm, "fastest", "loadbalancing.dev/algorithm: 'fastest' is not a balancing algorithm; accepted: RoundRobin, Random, LeastRequest, PeakEwma, RingHash, Maglev.")]
    [InlineData(ServicePolicy.Algorithm, "ring-hash", "loadbalancing.dev/algorithm: 'ring-hash' is not a balancing algorithm; did you mean 'RingHash'? accepted: RoundRobin, Random, LeastRequest, PeakEwma, RingHash, Maglev.")]
    [InlineData(ServicePolicy.HashKey, "header:", "loadbalancing.dev/hash-key: 'header:' needs a name after 'header:' (visible ASCII, no spaces).")]
    [InlineData(ServicePolicy.HashKey, "source-ip", "loadbalancing.dev/hash-key: 'source-ip' is not a hash key; expected header:NAME, cookie:NAME, query:NAME, client-ip or path.")]
    [InlineData(ServicePolicy.ConnectTimeout, "5 seconds", "loadbalancing.dev/connect-timeout: '5 seconds' is not a duration such as 5s, 250ms or 1m.")]
    [InlineData(ServicePolicy.ConnectTimeout, "0s", "the proxy refuses the cluster they make: ConnectTimeout must be positive; got 00:00:00.")]
    [InlineData(ServicePolicy.MaxConcurrentRequests, "-1", "loadbalancing.dev/max-concurrent-requests: '-1' is not a whole number of requests.")]
    [InlineData(ServicePolicy.MaxConcurrentRequests, "0", "the proxy refuses the cluster they make: MaxConcurrentRequests must be 1 or more (leave it out for no limit); got 0.")]
    [InlineData(ServicePolicy.MaxRequestsPerEndpoint, "many", "loadbalancing.dev/max-requests-per-endpoint: 'many' is not a whole number of requests.")]
    [InlineData(ServicePolicy.MaxRequestsPerEndpoint, "0", "the proxy refuses the cluster they make: MaxRequestsPerEndpoint must be 1 or more (leave it out for no limit); got 0.")]
    [InlineData(ServicePolicy.SessionAffinity, "sticky", "loadbalancing.dev/session-affinity: 'sticky' is not cookie or cookie:NAME.")]
    [InlineData(ServicePolicy.SessionAffinity, "cookie:my session", "the proxy refuses the cluster they make: SessionAffinity:CookieName must be a cookie name (letters, digits and !#$%&'*+-.^_`|~); got 'my session'.")]
    [InlineData(ServicePolicy.SessionAffinityMaxAge, "1h", "loadbalancing.dev/session-affinity-max-age needs loadbalancing.dev/session-affinity, which turns affinity on.")]
    [InlineData(ServicePolicy.HealthCheck, "http:healthz", "loadbalancing.dev/health-check: 'http:healthz' is not http:/PATH, grpc, grpc:SERVICE or tcp.")]
    [InlineData(ServicePolicy.HealthCheckInterval, "5s", "loadbalancing.dev/health-check-interval needs loadbalancing.dev/health-check, which turns the check on.")]
    [InlineData("loadbalancing.dev/algoritm", "Maglev", "loadbalancing.dev/algoritm is not a Service annotation the proxy knows; did you mean loadbalancing.dev/algorithm?")]
    public void AWrongAnnotation_LeavesTheDefaults_AndIsReported(string key, string value, string problem)
    {
        var result = Translate(new Dictionary<string, string> { [key] = value, [ServicePolicy.ResponseHeaderTimeout] = "5s" });

        var reported = Assert.Single(result.Problems);
        Assert.Equal(("a/shop", $"Service a/web annotations: {problem} Its clusters use the default policy."), (reported.Ingress, reported.Problem));
        var cluster = result.Set.Clusters["ingress:a/web:http"];
        Assert.Equal((LoadBalancingAlgorithm.RoundRobin, HashKeySource.None), (cluster.Algorithm, cluster.HashKey.Source));

        // Never half a policy: the valid annotation is not applied either.
        Assert.Equal(TimeSpan.FromSeconds(30), cluster.ResponseHeaderTimeout);
        Assert.Equal("ingress:a/web:http", Assert.Single(result.Set.Routes).Cluster);
        RouteSets.Validates(result.Set);
    }

    [Fact]
    public void AHashKeyWithoutAHashAlgorithm_IsRefusedByTheProxysOwnValidation()
    {
        var result = Translate(new Dictionary<string, string> { [ServicePolicy.HashKey] = "cookie:session" });

        Assert.Equal(
            "Service a/web annotations: the proxy refuses the cluster they make: HashKey: a request key only steers Maglev and RingHash; Algorithm is RoundRobin. Its clusters use the default policy.",
            Assert.Single(result.Problems).Problem);
        Assert.Equal(HashKeySource.None, result.Set.Clusters["ingress:a/web:http"].HashKey.Source);
    }

    [Fact]
    public void GatewayBackends_GetThePolicy_AndAWrongOneIsSaidInTheAcceptedMessage_WithAcceptedAndResolvedRefsTrue()
    {
        var good = new Dictionary<string, string> { [ServicePolicy.Algorithm] = "LeastRequest" };
        var bad = new Dictionary<string, string> { [ServicePolicy.Algorithm] = "fastest" };
        var result = new GatewayFixture().SameNamespaceGateway()
            .Service(GatewayFixture.Infra, "good", good, new ServicePort(null, 8080))
            .Service(GatewayFixture.Infra, "bad", bad, new ServicePort(null, 8080))
            .Route(HttpRoute("fine", [new ParentRef("gw")], [new RouteRule(BackendRefs: [new BackendRef("good", 8080)])], ["fine.test"], ns: GatewayFixture.Infra))
            .Route(HttpRoute("wrong", [new ParentRef("gw")], [new RouteRule(BackendRefs: [new BackendRef("bad", 8080)])], ["wrong.test"], ns: GatewayFixture.Infra))
            .Translate();

        Assert.Equal(LoadBalancingAlgorithm.LeastRequest, result.Set.Clusters["gateway:infra/good:-"].Algorithm);
        Assert.Equal(LoadBalancingAlgorithm.RoundRobin, result.Set.Clusters["gateway:infra/bad:-"].Algorithm);
        Assert.Equal(("True", "Accepted", 1L), GatewayFixture.RouteCondition(result, GatewayFixture.Infra, "wrong", "Accepted"));
        Assert.Equal(("True", "ResolvedRefs", 1L), GatewayFixture.RouteCondition(result, GatewayFixture.Infra, "wrong", "ResolvedRefs"));
        var problem = "Service infra/bad annotations: loadbalancing.dev/algorithm: 'fastest' is not a balancing algorithm; accepted: RoundRobin, Random, LeastRequest, PeakEwma, RingHash, Maglev. Its clusters use the default policy.";
        var accepted = GatewayFixture.StatusOf(result, Api.ApiKind.HttpRoute, GatewayFixture.Infra, "wrong")["parents"]![0]!["conditions"]!.AsArray()
            .Single(c => (string?)c!["type"] == "Accepted")!;
        Assert.Equal($"Accepted by the proxy. Backend policy not applied: {problem}", (string?)accepted["message"]);
        Assert.Equal([$"HTTPRoute infra/wrong: {problem}"], result.Problems);
        Assert.Equal(2, result.Set.Routes.Count);
        RouteSets.Validates(result.Set);
    }

    private static IngressTranslation Translate(Dictionary<string, string>? annotations, string? appProtocol = null)
    {
        var ours = new V1IngressClass { Metadata = new() { Name = "lb" }, Spec = new() { Controller = Controller } };
        var ingress = new V1Ingress
        {
            Metadata = new V1ObjectMeta { NamespaceProperty = "a", Name = "shop", CreationTimestamp = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc) },
            Spec = new V1IngressSpec
            {
                IngressClassName = "lb",
                Rules = [new V1IngressRule { Host = "shop.test", Http = new V1HTTPIngressRuleValue { Paths = [IngressTranslatorTests.Path("/", "Prefix", "web", port: 80)] } }],
            },
        };
        var service = new V1Service
        {
            Metadata = new V1ObjectMeta { NamespaceProperty = "a", Name = "web", Annotations = annotations },
            Spec = new V1ServiceSpec { Ports = [new V1ServicePort { Name = "http", Port = 80, AppProtocol = appProtocol }] },
        };
        return IngressTranslator.Translate([ingress], new IngressClassSelector([ours], Controller), [service]);
    }
}
