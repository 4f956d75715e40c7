using k8s.Models;
using LoadBalancing.Proxy.Kubernetes.Backends;
using LoadBalancing.Proxy.Kubernetes.Gateway.Model;

namespace LoadBalancing.Proxy.Kubernetes.Gateway;

/// <summary>A backendRef that could not be resolved: the ResolvedRefs reason and why.</summary>
internal sealed record BackendProblem(string Reason, string Message);

/// <summary>
/// Resolves HTTPRoute backendRefs to clusters: each Service port is one cluster fed by EndpointSlice discovery,
/// named <c>gateway:namespace/service:port</c> with the port as EndpointSlices name it (<c>-</c> for a Service's only,
/// unnamed port). Only core Services are backends; another namespace needs a ReferenceGrant there. A Service's
/// <c>loadbalancing.dev/*</c> annotations set its clusters' balancing policy (<see cref="ServicePolicy"/>).
/// </summary>
internal sealed class GatewayBackends(IEnumerable<V1Service> services, ReferenceGrants grants, ClusterOptions? defaults)
{
    public const string ClusterPrefix = "gateway:";

    private readonly ServiceClusters _services = new(services, ClusterPrefix, defaults);

    /// <summary>The clusters resolved so far, by name.</summary>
    public Dictionary<string, ClusterOptions> Clusters => _services.Clusters;

    /// <summary>Why the Service behind <paramref name="cluster"/> kept the default policy; null when its annotations applied.</summary>
    public string? PolicyProblem(string cluster) => _services.PolicyProblem(cluster);

    /// <summary>The backend's cluster name, or a problem.</summary>
    public string? Resolve(HttpBackendRef backend, string routeNamespace, out BackendProblem? problem)
    {
        var group = backend.Group ?? "";
        var kind = backend.Kind ?? "Service";
        var ns = string.IsNullOrEmpty(backend.Namespace) ? routeNamespace : backend.Namespace;
        var name = backend.Name ?? "";
        if (group.Length != 0 || kind != "Service")
        {
            problem = new(GatewayConditions.InvalidKind, $"backendRef {group}/{kind} {name}: only core Services are supported.");
            return null;
        }

        if (!grants.Allows(GatewayListeners.Group, GatewayListeners.HttpRouteKind, routeNamespace, "", "Service", ns, name))
        {
            problem = new(GatewayConditions.RefNotPermitted, $"backendRef Service {ns}/{name}: no ReferenceGrant in {ns} allows HTTPRoutes from {routeNamespace}.");
            return null;
        }

        if (_services.Find(ns, name) is not { } service)
        {
            problem = new(GatewayConditions.BackendNotFound, $"backendRef Service {ns}/{name} does not exist.");
            return null;
        }

        if (backend.Port is not { } number)
        {
            problem = new(GatewayConditions.BackendNotFound, $"backendRef Service {ns}/{name} has no port; a Service backend needs one.");
            return null;
        }

        var cluster = _services.ClusterFor(service, portName: null, number, out var missing);
        problem = cluster is null ? new(GatewayConditions.BackendNotFound, $"backendRef {missing}.") : null;
        return cluster;
    }
}
