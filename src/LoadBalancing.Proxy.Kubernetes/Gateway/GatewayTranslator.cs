using System.Text.Json.Nodes;
using k8s.Models;
using LoadBalancing.Proxy.Kubernetes.Api;
using LoadBalancing.Proxy.Kubernetes.Gateway.Model;
using LoadBalancing.Proxy.Kubernetes.Status;

namespace LoadBalancing.Proxy.Kubernetes.Gateway;

/// <summary>
/// Turns the Gateways of our GatewayClasses and the HTTPRoutes and GRPCRoutes attached to them into routes and
/// Service clusters, and says so in their status the way Gateway API v1 asks. Pure: the same inputs give the same output.
/// </summary>
/// <remarks>
/// Routes are scoped to the port of the listener they attached to and carry the intersection of route and listener
/// hostnames. Route objects are read oldest first, then by namespace/name, rule and match, HTTPRoutes and GRPCRoutes
/// together: of two identical matches the older keeps it, whatever their kinds. HTTPRoutes' routes are listed in that
/// order (the proxy breaks ties of equal precedence by it, as the spec's tie-breakers do), then GRPCRoutes' by their
/// own precedence: more characters of exact service, then of exact method, then more header matches, then that order.
/// Every route is checked with the proxy's own validation before it is published, so one bad object never keeps
/// the others out of the snapshot.
/// </remarks>
internal static class GatewayTranslator
{
    public static GatewayTranslation Translate(GatewayInputs inputs, GatewaySettings settings)
    {
        var problems = new List<string>();
        var statuses = new List<DesiredStatus>();
        var grants = new ReferenceGrants(inputs.ReferenceGrants);

        var ourClasses = new HashSet<string>(StringComparer.Ordinal);
        foreach (var gatewayClass in inputs.Classes)
        {
            if (gatewayClass.Spec?.ControllerName != settings.ControllerName || gatewayClass.Metadata?.Name is not { } className)
            {
                continue;
            }

            ourClasses.Add(className);
            var condition = GatewayConditions.Condition(GatewayConditions.Accepted, true, GatewayConditions.Accepted, "Handled by the proxy.", gatewayClass.Metadata.Generation ?? 0);
            statuses.Add(new DesiredStatus(ApiKind.GatewayClass, null, className, new JsonObject { ["conditions"] = new JsonArray(condition) }));
        }

        var gateways = new Dictionary<(string, string), (Model.Gateway Gateway, List<ListenerState> Listeners)>();
        foreach (var gateway in inputs.Gateways)
        {
            if (gateway.Metadata?.Name is not { } name || gateway.Spec?.GatewayClassName is not { } className || !ourClasses.Contains(className))
            {
                continue;
            }

            var ns = gateway.Metadata.NamespaceProperty ?? "default";
            gateways[(ns, name)] = (gateway, GatewayListeners.Evaluate(gateway, settings, grants, problems));
        }

        var context = new RouteContext(
            settings,
            gateways.ToDictionary(g => g.Key, g => g.Value.Listeners),
            inputs.Namespaces.Where(n => n.Metadata?.Name is not null).GroupBy(n => n.Metadata.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Metadata.Labels ?? new Dictionary<string, string>(), StringComparer.Ordinal),
            new GatewayBackends(inputs.Services, grants, settings.ClusterDefaults),
            problems);
        var ordered = inputs.HttpRoutes.Select(GatewayRouteObject.From)
            .Concat((inputs.GrpcRoutes ?? []).Select(GatewayRouteObject.From))
            .Where(r => r.Metadata?.Name is not null)
            .OrderBy(r => r.Metadata.CreationTimestamp ?? DateTime.MaxValue)
            .ThenBy(r => r.Metadata.NamespaceProperty ?? "default", StringComparer.Ordinal)
            .ThenBy(r => r.Metadata.Name, StringComparer.Ordinal)
            .ThenBy(r => r.Kind.Kind, StringComparer.Ordinal);
        foreach (var route in ordered)
        {
            if (RouteTranslator.Translate(route, context) is { } status)
            {
                statuses.Add(status);
            }
        }

        var routes = context.Routes.Where(r => !context.GrpcPrecedence.ContainsKey(r))
            .Concat(context.Routes.Where(context.GrpcPrecedence.ContainsKey)
                .Select((r, order) => (Route: r, Rank: context.GrpcPrecedence[r], Order: order))
                .OrderByDescending(g => g.Rank.Service)
                .ThenByDescending(g => g.Rank.Method)
                .ThenByDescending(g => g.Route.Headers.Count)
                .ThenBy(g => g.Order)
                .Select(g => g.Route))
            .ToList();

        var certificates = new List<ListenerCertificate>();
        foreach (var ((ns, name), (gateway, listeners)) in gateways.OrderBy(g => g.Key.Item1, StringComparer.Ordinal).ThenBy(g => g.Key.Item2, StringComparer.Ordinal))
        {
            statuses.Add(new DesiredStatus(ApiKind.Gateway, ns, name, GatewayListeners.Status(gateway, listeners, settings)));
            certificates.AddRange(listeners.Where(l => l.Programmed).SelectMany(l => l.Certificates));
        }

        return new GatewayTranslation(new ProxyRouteSet(routes, context.Backends.Clusters), statuses, problems, certificates);
    }
}

/// <summary>What translating one HTTPRoute reads and adds to.</summary>
internal sealed class RouteContext(
    GatewaySettings settings,
    Dictionary<(string, string), List<ListenerState>> gateways,
    Dictionary<string, IDictionary<string, string>> namespaceLabels,
    GatewayBackends backends,
    List<string> problems)
{
    public GatewaySettings Settings { get; } = settings;

    /// <summary>Our Gateways' listeners, by (namespace, name).</summary>
    public Dictionary<(string, string), List<ListenerState>> Gateways { get; } = gateways;

    public Dictionary<string, IDictionary<string, string>> NamespaceLabels { get; } = namespaceLabels;

    public GatewayBackends Backends { get; } = backends;

    public List<string> Problems { get; } = problems;

    public List<ProxyRouteOptions> Routes { get; } = [];

    /// <summary>Match keys already routed, and by which route (kind and key): the older route keeps a match two of them claim.</summary>
    public Dictionary<string, string> Claimed { get; } = new(StringComparer.Ordinal);

    /// <summary>The precedence of each route made from a GRPCRoute.</summary>
    public Dictionary<ProxyRouteOptions, GrpcPrecedence> GrpcPrecedence { get; } = new(ReferenceEqualityComparer.Instance);
}
