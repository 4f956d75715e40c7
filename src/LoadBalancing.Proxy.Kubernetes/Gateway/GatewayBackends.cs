using k8s.Models;
using LoadBalancing.Proxy.Kubernetes.Backends;
using LoadBalancing.Proxy.Kubernetes.Gateway.Model;

namespace LoadBalancing.Proxy.Kubernetes.Gateway;

/// <summary>A backendRef that could not be resolved: the ResolvedRefs reason and why.</summary>
internal sealed record BackendProblem(string Reason, string Message);

/// <summary>
/// Resolves HTTPRoute and GRPCRoute backendRefs to clusters: each Service port is one cluster fed by EndpointSlice
/// discovery, named <c>gateway:namespace/service:port</c> with the port as EndpointSlices name it (<c>-</c> for a
/// Service's only, unnamed port). Only core Services are backends; another namespace needs a ReferenceGrant there. A
/// Service's <c>loadbalancing.dev/*</c> annotations set its clusters' balancing policy (<see cref="ServicePolicy"/>).
/// A GRPCRoute's backends are spoken to over HTTP/2: a port whose <c>appProtocol</c> says nothing gets a copy of its
/// cluster that does (<c>…@grpc</c>), as GEP-1911 lets the route's kind decide; one that says HTTP/1.1 is refused.
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
    public string? Resolve(HttpBackendRef backend, string routeNamespace, GatewayRouteKind routeKind, out BackendProblem? problem)
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

        if (!grants.Allows(GatewayListeners.Group, routeKind.Kind, routeNamespace, "", "Service", ns, name))
        {
            problem = new(GatewayConditions.RefNotPermitted, $"backendRef Service {ns}/{name}: no ReferenceGrant in {ns} allows {routeKind}s from {routeNamespace}.");
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
        return cluster is not null && routeKind.Http2Backends ? Http2(cluster, ns, name, number, out problem) : cluster;
    }

    private string? Http2(string cluster, string ns, string name, int port, out BackendProblem? problem)
    {
        problem = null;
        switch (_services.Clusters[cluster].Protocol)
        {
            case UpstreamProtocol.Http2 or UpstreamProtocol.Auto:
                return cluster;
            case UpstreamProtocol.Http1:
                problem = new(GatewayConditions.UnsupportedProtocol, $"backendRef Service {ns}/{name} port {port}: its appProtocol says HTTP/1.1, and gRPC needs HTTP/2 (kubernetes.io/h2c).");
                return null;
            default:
                // A copy that keeps the Service's policy, spoken to over h2c.
                var copy = _services.Derive(cluster, "grpc", c => c.Protocol = UpstreamProtocol.Http2, out var refused);
                if (refused.Count > 0)
                {
                    problem = new(GatewayConditions.UnsupportedProtocol, $"backendRef Service {ns}/{name} port {port}: the proxy refuses it over HTTP/2: {string.Join(" ", refused)}");
                    return null;
                }

                return copy;
        }
    }
}
