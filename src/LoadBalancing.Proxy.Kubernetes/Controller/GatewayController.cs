using System.Globalization;
using k8s;
using k8s.Models;
using LoadBalancing.Proxy.Kubernetes.Api;
using LoadBalancing.Proxy.Kubernetes.Gateway;
using LoadBalancing.Proxy.Kubernetes.Gateway.Model;
using LoadBalancing.Proxy.Kubernetes.Status;
using LoadBalancing.Proxy.Kubernetes.Tls;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Kubernetes.Controller;

/// <summary>
/// The Gateway API controller: watches GatewayClasses, Gateways, HTTPRoutes, GRPCRoutes, ReferenceGrants, Services
/// and Namespaces; routes the HTTPRoutes and GRPCRoutes attached to our Gateways (each scoped to the local port that serves its
/// listener) to clusters fed by EndpointSlice discovery, and asks for the status the spec requires.
/// </summary>
internal sealed class GatewayController : RoutingController
{
    private readonly ObjectWatch<GatewayClass> _classes;
    private readonly ObjectWatch<V1Namespace> _namespaces;
    private readonly ObjectWatch<Gateway.Model.Gateway>[] _gateways;
    private readonly ObjectWatch<HttpRoute>[] _routes;
    private readonly ObjectWatch<GrpcRoute>[] _grpcRoutes;
    private readonly ObjectWatch<ReferenceGrant>[] _grants;
    private readonly ObjectWatch<V1Service>[] _services;
    private readonly string _controllerName;
    private readonly IReadOnlyList<string> _addresses;
    private readonly Dictionary<int, int> _listenerPorts;
    private readonly IReadOnlySet<int>? _servedPorts;
    private readonly IReadOnlySet<int> _http1OnlyPorts;

    // servedLocalPorts: the ports the proxy listens on; null when one is chosen at start (port 0) and so not known.
    // http1OnlyLocalPorts: those of them that speak HTTP/1.1 only, where gRPC cannot arrive.
    public GatewayController(
        ObjectApi api, KubernetesRoutingOptions options, WatchSettings settings, IReadOnlySet<int>? servedLocalPorts,
        IReadOnlySet<int> http1OnlyLocalPorts, TimeProvider time, ILoggerFactory loggers, IStatusSink? status, Func<ProxyRouteSet, CancellationToken, Task>? warmUp)
        : base("gateway", time, loggers.CreateLogger("LoadBalancing.Proxy.Kubernetes.Gateway"), status, warmUp)
    {
        var logger = loggers.CreateLogger("LoadBalancing.Proxy.Kubernetes.Watch");
        _controllerName = options.Gateway.ControllerName;
        _addresses = [.. options.Status.Addresses];
        _listenerPorts = options.Gateway.ListenerPorts.ToDictionary(p => int.Parse(p.Key, CultureInfo.InvariantCulture), p => p.Value);

        // A Gateway listener port is served when the local port it maps to is one the proxy listens on; mapped ports
        // count as served whatever the proxy's listeners say when those are not known.
        _servedPorts = servedLocalPorts is null ? null : ListenerPortsOf(servedLocalPorts);
        _http1OnlyPorts = ListenerPortsOf(http1OnlyLocalPorts);
        IReadOnlyList<string?> scopes = options.RouteNamespaces.Count == 0 ? [null] : [.. options.RouteNamespaces];
        _classes = new(api, ApiKind.GatewayClass, null, GatewayJson.Read<GatewayClass>, settings, time, logger, Changed);
        _namespaces = new(api, ApiKind.Namespace, null, e => KubernetesJson.Deserialize<V1Namespace>(e), settings, time, logger, Changed);
        _gateways = [.. scopes.Select(ns => new ObjectWatch<Gateway.Model.Gateway>(api, ApiKind.Gateway, ns, GatewayJson.Read<Gateway.Model.Gateway>, settings, time, logger, Changed))];
        _routes = [.. scopes.Select(ns => new ObjectWatch<HttpRoute>(api, ApiKind.HttpRoute, ns, GatewayJson.Read<HttpRoute>, settings, time, logger, Changed))];

        // Not served before Gateway API v1.1, nor granted by roles written before the controller read it: the watch then
        // counts none and looks again, and HTTPRoutes are served meanwhile.
        _grpcRoutes = [.. scopes.Select(ns => new ObjectWatch<GrpcRoute>(api, ApiKind.GrpcRoute, ns, GatewayJson.Read<GrpcRoute>, settings, time, logger, Changed) { Optional = true })];
        _grants = [.. scopes.Select(ns => new ObjectWatch<ReferenceGrant>(api, ApiKind.ReferenceGrant, ns, GatewayJson.Read<ReferenceGrant>, settings, time, logger, Changed))];
        _services = [.. scopes.Select(ns => new ObjectWatch<V1Service>(api, ApiKind.Service, ns, e => KubernetesJson.Deserialize<V1Service>(e), settings, time, logger, Changed))];
        Watches = [_classes, _namespaces, .. _gateways, .. _routes, .. _grpcRoutes, .. _grants, .. _services];
    }

    public override IReadOnlyList<IObjectWatch> Watches { get; }

    /// <summary>The certificates HTTPS listeners asked for in the last rebuild.</summary>
    public IReadOnlyList<ListenerCertificate> ListenerCertificates { get; private set; } = [];

    /// <summary>The Gateway listener ports the local ports serve: a mapped port's listener port, an unmapped one itself.</summary>
    private HashSet<int> ListenerPortsOf(IReadOnlySet<int> local) =>
    [
        .. local.Where(p => !_listenerPorts.ContainsKey(p)),
        .. _listenerPorts.Where(m => local.Contains(m.Value)).Select(m => m.Key),
    ];

    private int LocalPort(int listenerPort) => _listenerPorts.TryGetValue(listenerPort, out var local) ? local : listenerPort;

    protected override (ProxyRouteSet Set, IReadOnlyList<DesiredStatus> Statuses, IReadOnlyList<string> Problems) Rebuild()
    {
        var inputs = new GatewayInputs(
            [.. _classes.Objects], [.. _gateways.SelectMany(w => w.Objects)], [.. _routes.SelectMany(w => w.Objects)],
            [.. _grants.SelectMany(w => w.Objects)], [.. _services.SelectMany(w => w.Objects)], [.. _namespaces.Objects],
            [.. _grpcRoutes.SelectMany(w => w.Objects)]);
        var translation = GatewayTranslator.Translate(inputs, new GatewaySettings(_controllerName, _addresses, _servedPorts, ClusterDefaults: null, Certificates is { } certificates ? certificates.SecretProblem : null, _http1OnlyPorts));

        // Routes match the local port a request arrived on; the translator scoped them to the listener's port.
        foreach (var route in translation.Set.Routes)
        {
            for (var i = 0; i < route.Ports.Count; i++)
            {
                route.Ports[i] = LocalPort(route.Ports[i]);
            }
        }

        ListenerCertificates = translation.Certificates;
        WantedCertificates = [.. translation.Certificates.Select(c => new WantedCertificate(
            [c.Hostname ?? "*"], c.SecretNamespace, c.SecretName, $"Gateway {c.Gateway} listener {c.Listener}"))];
        var unreadable = Watches.OfType<IObjectWatchProblems>().SelectMany(w => w.ProblemLines);
        return (translation.Set, translation.Statuses, [.. translation.Problems, .. unreadable]);
    }
}
