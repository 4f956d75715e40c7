using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s.Models;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Kubernetes.Controller;
using LoadBalancing.Proxy.Kubernetes.Gateway;
using LoadBalancing.Proxy.Kubernetes.Gateway.Model;

namespace LoadBalancing.Benchmarks;

/// <summary>
/// Gateway API inputs at the size of the target: <see cref="Namespaces"/> namespaces of <see cref="RoutesPerNamespace"/>
/// HTTPRoutes each (1,000), every route with its own hostname and two rules (<c>/api</c> with a request-header filter,
/// and <c>/</c>) to its own Service (1,000 Services), all attached to one Gateway listener on port 80 that admits
/// routes from every namespace. Objects are read from the tests' JSON builders through GatewayJson, as the watches read them.
/// </summary>
internal static class GatewayFixtures
{
    public const string Controller = "loadbalancing.dev/gateway-controller";
    public const int Namespaces = 100;
    public const int RoutesPerNamespace = 10;
    public const int Routes = Namespaces * RoutesPerNamespace;
    public const int EndpointsPerService = 5;

    public static readonly GatewaySettings Settings = new(Controller, ["10.0.0.1"], ServedPorts: null, ClusterDefaults: null);

    /// <summary>The inputs; <paramref name="variant"/> changes the header value the last route's <c>/api</c> rule sets (one route differs).</summary>
    public static GatewayInputs Inputs(int variant = 0)
    {
        var routes = new List<HttpRoute>(Routes);
        var services = new List<V1Service>(Routes);
        var namespaces = new List<V1Namespace> { Namespace("infra") };
        for (var n = 0; n < Namespaces; n++)
        {
            var ns = Ns(n);
            namespaces.Add(Namespace(ns));
            for (var r = 0; r < RoutesPerNamespace; r++)
            {
                var last = n == Namespaces - 1 && r == RoutesPerNamespace - 1;
                routes.Add(Read<HttpRoute>(Route(ns, r, last ? variant : 0)));
                services.Add(k8s.KubernetesJson.Deserialize<V1Service>(Objects.Service(Service(r), [new Objects.ServicePort("http", 80, 8080)], ns).ToJsonString()));
            }
        }

        return new GatewayInputs(
            [Read<GatewayClass>(Objects.GatewayClass("lb", Controller))],
            [Read<Proxy.Kubernetes.Gateway.Model.Gateway>(Gateway())],
            routes,
            [],
            services,
            namespaces);
    }

    public static string Ns(int n) => string.Create(CultureInfo.InvariantCulture, $"ns-{n:D2}");

    public static string Service(int r) => string.Create(CultureInfo.InvariantCulture, $"svc-{r}");

    public static JsonObject Gateway() =>
        Objects.Gateway("gw", "lb", [new Objects.Listener("http", 80, AllowedRoutes: new Objects.AllowedRoutes("All"))], ns: "infra");

    /// <summary>One HTTPRoute: <c>r{r}.{ns}.example</c>, <c>/api</c> (sets <c>X-Variant</c>) and <c>/</c>, both to its Service.</summary>
    public static JsonObject Route(string ns, int r, int variant)
    {
        var backend = new Objects.BackendRef(Service(r), 80);
        var route = Objects.HttpRoute(
            string.Create(CultureInfo.InvariantCulture, $"route-{r}"),
            [new Objects.ParentRef("gw", Namespace: "infra")],
            [
                new Objects.RouteRule([new Objects.RouteMatch("/api")], [backend], [Objects.RequestHeaderModifier(set: new Dictionary<string, string> { ["X-Variant"] = variant.ToString(CultureInfo.InvariantCulture) })]),
                new Objects.RouteRule([new Objects.RouteMatch("/")], [backend]),
            ],
            hostnames: [string.Create(CultureInfo.InvariantCulture, $"r{r}.{ns}.example")],
            ns: ns);
        route["metadata"]!["generation"] = 1;
        route["metadata"]!["creationTimestamp"] = "2026-01-01T00:00:00Z";
        return route;
    }

    /// <summary>
    /// A proxy runtime with no routes of its own, fed by <paramref name="source"/>, whose Service clusters take their
    /// endpoints from sources filled here (<see cref="EndpointsPerService"/> each: 5,000 for the 1,000 Services), as
    /// <c>UseServiceEndpointSources</c> with discovery would feed them. The listener is port 80, the port the
    /// translator scopes routes to (nothing is bound: the runtime is what reloads work on).
    /// </summary>
    internal static ProxyRuntime Runtime(BenchRouteSource source)
    {
        var endpoints = new Dictionary<string, EndpointSource>(StringComparer.Ordinal);
        for (var n = 0; n < Namespaces; n++)
        {
            for (var r = 0; r < RoutesPerNamespace; r++)
            {
                var key = $"{Ns(n)}/{Service(r)}";
                var endpointSource = new EndpointSource(key);
                endpointSource.Publish(Enumerable.Range(1, EndpointsPerService).Select(e => new BackendEndpoint(string.Create(CultureInfo.InvariantCulture, $"10.{n}.{r}.{e}"), 8080)));
                endpoints[key] = endpointSource;
            }
        }

        var registry = new ClusterSourceRegistry
        {
            ServiceSources = new ServiceSourceResolver((_, service) => endpoints[$"{service.Namespace}/{service.Service}"], StalenessBound: null),
        };
        registry.RouteSources.Add(_ => source);
        var options = new ProxyOptions();
        options.Listeners.Add(new ListenerOptions { Url = "http://127.0.0.1:80" });
        return new ProxyRuntime(options, registry, new NoServices(), TimeProvider.System, new MeterFactory());
    }

    private static T Read<T>(JsonObject json)
        where T : class => GatewayJson.Read<T>(JsonDocument.Parse(json.ToJsonString()).RootElement);

    private static V1Namespace Namespace(string name) => new() { Metadata = new V1ObjectMeta { Name = name, Labels = new Dictionary<string, string>() } };

    private sealed class NoServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }

    private sealed class MeterFactory : IMeterFactory
    {
        public Meter Create(MeterOptions options) => new(options);

        public void Dispose()
        {
        }
    }
}

/// <summary>A route source the benchmark publishes to, as the Gateway controller does after a rebuild.</summary>
internal sealed class BenchRouteSource() : ProxyRouteSource("gateway")
{
    public void Set(ProxyRouteSet set) => Publish(set);
}
