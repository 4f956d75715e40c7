using System.Globalization;
using k8s.Models;

namespace LoadBalancing.Proxy.Kubernetes.Backends;

/// <summary>
/// The Services a translator may route to, and the clusters it makes for them: one per Service port, fed by
/// EndpointSlice discovery (never the Service IP), named <c>{prefix}namespace/service:port</c> with the port as the
/// Service's EndpointSlices name it (<c>-</c> for a Service's only, unnamed port). A port given by number is mapped
/// to that name through the Service object.
/// </summary>
internal sealed class ServiceClusters(IEnumerable<V1Service> services, string prefix, ClusterOptions? defaults)
{
    private readonly Dictionary<(string, string), V1Service> _services = services
        .Where(s => s.Metadata?.Name is not null)
        .GroupBy(s => (s.Metadata.NamespaceProperty ?? "default", s.Metadata.Name))
        .ToDictionary(g => g.Key, g => g.First());

    /// <summary>The clusters made so far, by name.</summary>
    public Dictionary<string, ClusterOptions> Clusters { get; } = new(StringComparer.Ordinal);

    public V1Service? Find(string ns, string name) => _services.GetValueOrDefault((ns, name));

    /// <summary>
    /// The cluster for a port of <paramref name="service"/>, by name or else by number; null, with why, when the
    /// Service has no such port, or when the port has no name while the Service has others (its EndpointSlices could
    /// not be told apart).
    /// </summary>
    public string? ClusterFor(V1Service service, string? portName, int? portNumber, out string? problem)
    {
        var ns = service.Metadata.NamespaceProperty ?? "default";
        var name = service.Metadata.Name;
        var ports = service.Spec?.Ports ?? [];
        var match = !string.IsNullOrEmpty(portName) ? ports.FirstOrDefault(p => string.Equals(p.Name, portName, StringComparison.Ordinal))
            : portNumber is { } number ? ports.FirstOrDefault(p => p.Port == number)
            : null;
        var what = !string.IsNullOrEmpty(portName) ? $"port '{portName}'" : portNumber is { } n ? $"port {n}" : "no port";
        if (match is null)
        {
            problem = $"Service {ns}/{name} has no {what}";
            return null;
        }

        if (string.IsNullOrEmpty(match.Name) && ports.Count > 1)
        {
            problem = $"Service {ns}/{name} has several ports and {what} has no name, which its EndpointSlices need";
            return null;
        }

        var port = string.IsNullOrEmpty(match.Name) ? null : match.Name;
        var cluster = string.Create(CultureInfo.InvariantCulture, $"{prefix}{ns}/{name}:{port ?? "-"}");
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
