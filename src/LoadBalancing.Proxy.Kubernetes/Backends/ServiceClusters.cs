using System.Globalization;
using k8s.Models;

namespace LoadBalancing.Proxy.Kubernetes.Backends;

/// <summary>
/// The Services a translator may route to, and the clusters it makes for them: one per Service port, fed by
/// EndpointSlice discovery (never the Service IP), named <c>{prefix}namespace/service:port</c> with the port as the
/// Service's EndpointSlices name it (<c>-</c> for a Service's only, unnamed port). A port given by number is mapped
/// to that name through the Service object. A Service's <c>loadbalancing.dev/*</c> annotations (<see cref="ServicePolicy"/>)
/// set the balancing policy of its clusters; when they are wrong the clusters keep the defaults and
/// <see cref="PolicyProblem"/> says why. An owner (an Ingress) that changes settings of a cluster gets its own copy,
/// <c>cluster@owner</c>, so that two owners of one Service port never share settings.
/// </summary>
internal sealed class ServiceClusters(IEnumerable<V1Service> services, string prefix, ClusterOptions? defaults)
{
    private readonly Dictionary<(string, string), V1Service> _services = services
        .Where(s => s.Metadata?.Name is not null)
        .GroupBy(s => (s.Metadata.NamespaceProperty ?? "default", s.Metadata.Name))
        .ToDictionary(g => g.Key, g => g.First());

    // For each cluster made from a Service port: what a copy of it starts from.
    private readonly Dictionary<string, (KubernetesServiceOptions Port, IDictionary<string, string>? Policy)> _bases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _policyProblems = new(StringComparer.Ordinal);
    private readonly Dictionary<string, UpstreamProtocol?> _protocols = new(StringComparer.Ordinal);

    /// <summary>The clusters made so far, by name.</summary>
    public Dictionary<string, ClusterOptions> Clusters { get; } = new(StringComparer.Ordinal);

    /// <summary>Why the Service behind <paramref name="cluster"/> did not get its annotated policy; null when it did or has none.</summary>
    public string? PolicyProblem(string cluster) => _policyProblems.GetValueOrDefault(cluster);

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
            var source = new KubernetesServiceOptions { Namespace = ns, Service = name, Port = port };
            var annotations = service.Metadata.Annotations;
            var made = NewCluster(source);
            var problems = ServicePolicy.Apply(annotations, made);
            if (problems.Count == 0 && ServicePolicy.Present(annotations))
            {
                problems.AddRange(ServicePolicy.Check(cluster, made).Select(e => $"the proxy refuses the cluster they make: {e}"));
            }

            if (problems.Count > 0)
            {
                // Never half a policy: a wrong annotation leaves every setting at its default, and says so.
                _policyProblems[cluster] = $"Service {ns}/{name} annotations: {string.Join(" ", problems)} Its clusters use the default policy.";
                annotations = null;
                made = NewCluster(source);
            }

            // The port's appProtocol (kubernetes.io/h2c for gRPC and other HTTP/2 services) unless the defaults chose.
            made.Protocol ??= AppProtocols.ToUpstream(match.AppProtocol);
            Clusters[cluster] = made;
            _bases[cluster] = (source, annotations);
            _protocols[cluster] = made.Protocol;
        }

        problem = null;
        return cluster;
    }

    /// <summary>
    /// A copy of <paramref name="cluster"/> (one <see cref="ClusterFor"/> made) for <paramref name="owner"/> with
    /// <paramref name="change"/> applied over the Service's policy, named <c>cluster@owner</c>; when the proxy's
    /// validation refuses the copy, <paramref name="cluster"/> itself, with the problems.
    /// </summary>
    public string Derive(string cluster, string owner, Action<ClusterOptions> change, out IReadOnlyList<string> problems)
    {
        var name = $"{cluster}@{owner}";
        problems = [];
        if (Clusters.ContainsKey(name))
        {
            return name;
        }

        var (source, policy) = _bases[cluster];
        var copy = NewCluster(new KubernetesServiceOptions { Namespace = source.Namespace, Service = source.Service, Port = source.Port }, policy);
        copy.Protocol = _protocols[cluster];
        change(copy);
        problems = ServicePolicy.Check(name, copy);
        if (problems.Count > 0)
        {
            return cluster;
        }

        Clusters[name] = copy;
        if (_policyProblems.TryGetValue(cluster, out var problem))
        {
            // The copy starts from the same policy, so the same problem stands.
            _policyProblems[name] = problem;
        }

        return name;
    }

    private ClusterOptions NewCluster(KubernetesServiceOptions service, IDictionary<string, string>? policy)
    {
        var cluster = NewCluster(service);
        if (policy is not null)
        {
            ServicePolicy.Apply(policy, cluster);
        }

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
