using Grpc.Net.Client.Balancer;
using LoadBalancing.Grpc;
using LoadBalancing.Kubernetes;

namespace LoadBalancing.Grpc.Kubernetes;

/// <summary>
/// Resolves <c>k8s:///namespace/service[:port]</c> targets to the Service's ready endpoints, from
/// <see cref="KubernetesDiscovery"/>'s EndpointSlice view (pod addresses, never the Service IP). A Service not
/// followed yet is followed from the channel's creation on; until discovery has listed it, the channel is told the
/// endpoints are not known yet (UNAVAILABLE), not that there are none.
/// </summary>
public sealed class KubernetesResolverFactory : ResolverFactory
{
    /// <summary>The scheme: <c>k8s</c>.</summary>
    public const string Scheme = "k8s";

    private readonly EndpointSourceResolverFactory _inner;

    /// <summary>Creates the factory.</summary>
    /// <param name="discovery">The discovery whose sources feed the channels.</param>
    /// <param name="timeProvider">The clock for re-checking a Service not listed yet; the system clock by default.</param>
    public KubernetesResolverFactory(KubernetesDiscovery discovery, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(discovery);
        _inner = new EndpointSourceResolverFactory(Scheme, uri =>
        {
            var (ns, service, port) = ParseTarget(uri);
            return discovery.GetSource(ns, service, port);
        }, timeProvider);
    }

    /// <summary>The scheme: <c>k8s</c>.</summary>
    public override string Name => Scheme;

    /// <summary>Creates the resolver for a channel.</summary>
    /// <param name="options">The channel's target (<c>k8s:///namespace/service[:port]</c>) and logger factory.</param>
    /// <returns>The resolver.</returns>
    /// <exception cref="ArgumentException">The target is not <c>k8s:///namespace/service[:port]</c>.</exception>
    public override Resolver Create(ResolverOptions options) => _inner.Create(options);

    /// <summary>Splits <c>k8s:///namespace/service[:port]</c>; the port is a name or number, absent for the Service's only port.</summary>
    internal static (string Namespace, string Service, string? Port) ParseTarget(Uri target)
    {
        var path = target.IsAbsoluteUri ? Uri.UnescapeDataString(target.AbsolutePath) : target.OriginalString;
        var parts = path.Trim('/').Split('/');
        if (!string.IsNullOrEmpty(target.IsAbsoluteUri ? target.Authority : null) || parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
        {
            throw new ArgumentException($"'{target}' is not a Kubernetes target: use k8s:///namespace/service or k8s:///namespace/service:port (port by name or number).", nameof(target));
        }

        var colon = parts[1].IndexOf(':', StringComparison.Ordinal);
        return colon < 0
            ? (parts[0], parts[1], null)
            : (parts[0], parts[1][..colon], colon == parts[1].Length - 1 ? null : parts[1][(colon + 1)..]);
    }
}
