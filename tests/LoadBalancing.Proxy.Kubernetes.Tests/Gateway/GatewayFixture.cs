using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s.Models;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Kubernetes.Api;
using LoadBalancing.Proxy.Kubernetes.Gateway;
using LoadBalancing.Proxy.Kubernetes.Gateway.Model;
using LoadBalancing.Proxy.Kubernetes.Status;
using LoadBalancing.Proxy.Kubernetes.Tests.Support;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Gateway;

/// <summary>Builds translator inputs from the shared JSON builders (read through GatewayJson, as the watcher does) and reads the output.</summary>
internal sealed class GatewayFixture
{
    public const string Controller = "loadbalancing.dev/gateway";
    public const string Infra = "infra";

    private readonly List<GatewayClass> _classes = [Read<GatewayClass>(Objects.GatewayClass("lb", Controller)), Read<GatewayClass>(Objects.GatewayClass("other", "example.com/other"))];
    private readonly List<Kubernetes.Gateway.Model.Gateway> _gateways = [];
    private readonly List<HttpRoute> _routes = [];
    private readonly List<GrpcRoute> _grpcRoutes = [];
    private readonly List<ReferenceGrant> _grants = [];
    private readonly List<V1Service> _services = [];
    private readonly List<V1Namespace> _namespaces = [];

    public IReadOnlySet<int>? ServedPorts { get; set; }

    public IReadOnlySet<int>? Http1OnlyPorts { get; set; }

    public GatewayFixture Gateway(JsonObject gateway, long generation = 1)
    {
        gateway["metadata"]!["generation"] = generation;
        _gateways.Add(Read<Kubernetes.Gateway.Model.Gateway>(gateway));
        return this;
    }

    /// <summary>The usual infrastructure Gateway: one HTTP listener on 80 admitting routes from all namespaces.</summary>
    public GatewayFixture SameNamespaceGateway(string from = "Same") =>
        Gateway(Objects.Gateway("gw", "lb", [new Objects.Listener("http", 80, AllowedRoutes: new Objects.AllowedRoutes(from))], ns: Infra));

    /// <summary>An HTTPRoute, or a GRPCRoute (by its <c>kind</c>), created on day <paramref name="createdDay"/>.</summary>
    public GatewayFixture Route(JsonObject route, int createdDay = 1, long generation = 1)
    {
        route["metadata"]!["generation"] = generation;
        route["metadata"]!["creationTimestamp"] = new DateTime(2026, 1, createdDay, 0, 0, 0, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        if ((string?)route["kind"] == "GRPCRoute")
        {
            _grpcRoutes.Add(Read<GrpcRoute>(route));
        }
        else
        {
            _routes.Add(Read<HttpRoute>(route));
        }

        return this;
    }

    public GatewayFixture Grant(JsonObject grant)
    {
        _grants.Add(Read<ReferenceGrant>(grant));
        return this;
    }

    public GatewayFixture Service(string ns, string name, params Objects.ServicePort[] ports) => Service(ns, name, null, ports);

    public GatewayFixture Service(string ns, string name, IReadOnlyDictionary<string, string>? annotations, params Objects.ServicePort[] ports)
    {
        _services.Add(k8s.KubernetesJson.Deserialize<V1Service>(Objects.Service(name, ports, ns, annotations: annotations).ToJsonString()));
        return this;
    }

    public GatewayFixture Namespace(string name, IDictionary<string, string>? labels = null)
    {
        _namespaces.Add(new V1Namespace { Metadata = new V1ObjectMeta { Name = name, Labels = labels ?? new Dictionary<string, string>() } });
        return this;
    }

    public GatewayTranslation Translate() =>
        GatewayTranslator.Translate(new GatewayInputs(_classes, _gateways, _routes, _grants, _services, _namespaces, _grpcRoutes), new GatewaySettings(Controller, ["10.0.0.1"], ServedPorts, null, Http1OnlyPorts: Http1OnlyPorts));

    public static T Read<T>(JsonObject json)
        where T : class => GatewayJson.Read<T>(JsonDocument.Parse(json.ToJsonString()).RootElement);

    public static JsonObject StatusOf(GatewayTranslation result, ApiKind kind, string? ns, string name) =>
        Assert.Single(result.Statuses, s => s.Kind == kind && s.Namespace == ns && s.Name == name).Status;

    /// <summary>A condition of a route's only parent entry: (status, reason, observedGeneration).</summary>
    public static (string Status, string Reason, long Generation) RouteCondition(GatewayTranslation result, string ns, string name, string type, int parent = 0, ApiKind? kind = null)
    {
        var status = Assert.Single(result.Statuses, s => s.Kind == (kind ?? ApiKind.HttpRoute) && s.Namespace == ns && s.Name == name);
        Assert.Equal(Controller, status.ParentsController);
        var entry = status.Status["parents"]![parent]!;
        Assert.Equal(Controller, (string?)entry["controllerName"]);
        return Condition(entry["conditions"]!.AsArray(), type);
    }

    public static (string Status, string Reason, long Generation) Condition(JsonArray conditions, string type)
    {
        var condition = Assert.Single(conditions, c => (string?)c!["type"] == type)!;
        return ((string)condition["status"]!, (string)condition["reason"]!, (long)condition["observedGeneration"]!);
    }

    public static JsonObject ListenerStatus(GatewayTranslation result, string ns, string gateway, string listener) =>
        StatusOf(result, ApiKind.Gateway, ns, gateway)["listeners"]!.AsArray().Single(l => (string?)l!["name"] == listener)!.AsObject();

    /// <summary>The set joins a configuration and passes the proxy's own validation.</summary>
    public static void Validates(ProxyRouteSet set) => RouteSets.Validates(set);
}
