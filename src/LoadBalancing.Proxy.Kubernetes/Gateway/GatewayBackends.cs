using System.Globalization;
using k8s.Models;
using LoadBalancing.Proxy.Kubernetes.Gateway.Model;

namespace LoadBalancing.Proxy.Kubernetes.Gateway;

/// <summary>A backendRef that could not be resolved: the ResolvedRefs reason and why.</summary>
internal sealed record BackendProblem(string Reason, string Message);

/// <summary>
/// Resolves HTTPRoute backendRefs to clusters: each Service port is one cluster fed by EndpointSlice discovery,
/// named <c>gateway:namespace/service:port</c> with the port as EndpointSlices name it (<c>-</c> for a Service's only,
/// unnamed port). Only core Services are backends; another namespace needs a ReferenceGrant there.
/// </summary>
internal sealed class GatewayBackends(IEnumerable<V1Service> services, ReferenceGrants grants, ClusterOptions? defaults)
{
    public const string ClusterPrefix = "gateway:";

    private readonly Dictionary<(string, string), V1Service> _services = services
        .Where(s => s.Metadata?.Name is not null)
        .GroupBy(s => (s.Metadata.NamespaceProperty ?? "default", s.Metadata.Name))
        .ToDictionary(g => g.Key, g => g.First());

    /// <summary>The clusters resolved so far, by name.</summary>
    public Dictionary<string, ClusterOptions> Clusters { get; } = new(StringComparer.Ordinal);

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

        if (!_services.TryGetValue((ns, name), out var service))
        {
            problem = new(GatewayConditions.BackendNotFound, $"backendRef Service {ns}/{name} does not exist.");
            return null;
        }

        if (backend.Port is not { } number)
        {
            problem = new(GatewayConditions.BackendNotFound, $"backendRef Service {ns}/{name} has no port; a Service backend needs one.");
            return null;
        }

        var ports = service.Spec?.Ports ?? [];
        var match = ports.FirstOrDefault(p => p.Port == number);
        if (match is null || (string.IsNullOrEmpty(match.Name) && ports.Count > 1))
        {
            problem = new(GatewayConditions.BackendNotFound, match is null
                ? $"backendRef Service {ns}/{name} has no port {number}."
                : $"backendRef Service {ns}/{name} port {number} has no name, which its EndpointSlices need.");
            return null;
        }

        var port = string.IsNullOrEmpty(match.Name) ? null : match.Name;
        var cluster = string.Create(CultureInfo.InvariantCulture, $"{ClusterPrefix}{ns}/{name}:{port ?? "-"}");
        if (!Clusters.ContainsKey(cluster))
        {
            Clusters[cluster] = NewCluster(new KubernetesServiceOptions { Namespace = ns, Service = name, Port = port });
        }

        problem = null;
        return cluster;
    }

    private ClusterOptions NewCluster(KubernetesServiceOptions service)
    {
        var cluster = new ClusterOptions { Kubernetes = service };
        if (defaults is not null)
        {
            cluster.Algorithm = defaults.Algorithm;
            cluster.MaxAttempts = defaults.MaxAttempts;
            cluster.ConnectTimeout = defaults.ConnectTimeout;
            cluster.ResponseHeaderTimeout = defaults.ResponseHeaderTimeout;
            cluster.IdleTimeout = defaults.IdleTimeout;
        }

        return cluster;
    }
}
