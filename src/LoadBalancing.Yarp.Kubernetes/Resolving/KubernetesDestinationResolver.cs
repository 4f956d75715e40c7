using System.Globalization;
using LoadBalancing.Kubernetes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.ServiceDiscovery;

namespace LoadBalancing.Yarp.Kubernetes.Resolving;

/// <summary>
/// Expands each destination whose address is <c>k8s:///namespace/service[:port][/path]</c> (or <c>k8s+https:///…</c>)
/// into one destination per pod endpoint of <see cref="KubernetesDiscovery"/>'s view that takes traffic, named
/// <c>id[ip:port]</c>; any other destination goes to the resolver registered before this one (or passes unchanged).
/// The change token fires when the endpoints of a named Service change, and YARP resolves again.
/// </summary>
internal sealed partial class KubernetesDestinationResolver : IDestinationResolver, IDisposable
{
    private readonly KubernetesDiscovery _discovery;
    private readonly IDestinationResolver? _inner;
    private readonly ILogger _logger;
    private readonly Lock _feedsLock = new();
    private readonly Dictionary<EndpointSource, ServiceFeed> _feeds = [];
    private readonly Dictionary<ServiceFeed, ServiceFeed.Generation> _resolved = [];
    private Dictionary<ServiceFeed, ServiceFeed.Generation> _applied = [];
    private TaskCompletionSource _nextApplied = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public KubernetesDestinationResolver(KubernetesDiscovery discovery, IDestinationResolver? inner = null, ILogger<KubernetesDestinationResolver>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(discovery);
        _discovery = discovery;
        _inner = inner;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    public async ValueTask<ResolvedDestinationCollection> ResolveDestinationsAsync(IReadOnlyDictionary<string, DestinationConfig> destinations, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destinations);
        Dictionary<string, DestinationConfig>? others = null;
        Dictionary<string, DestinationConfig>? resolved = null;
        List<IChangeToken>? tokens = null;
        foreach (var (id, destination) in destinations)
        {
            if (!KubernetesAddress.TryParse(destination.Address, out var address, out var error))
            {
                if (error is not null)
                {
                    throw new ArgumentException($"Destination '{id}': {error}");
                }

                (others ??= new(StringComparer.OrdinalIgnoreCase))[id] = destination;
                continue;
            }

            if (!string.IsNullOrEmpty(destination.Health))
            {
                throw new ArgumentException(
                    $"Destination '{id}': a Kubernetes destination ('{destination.Address}') takes no Health address; active health checks probe each pod at its address and the cluster's HealthCheck.Active.Path.");
            }

            resolved ??= new(StringComparer.OrdinalIgnoreCase);
            var source = _discovery.GetSource(address!.Namespace, address.Service, address.Port);
            var generation = Resolved(Feed(source));
            (tokens ??= []).Add(generation.Token);
            foreach (var endpoint in generation.Endpoints)
            {
                resolved[$"{id}[{endpoint}]"] = Expand(destination, address, endpoint);
            }

            if (source.Current.Version == 0 && source.LastConfirmed is null)
            {
                Log.NotListedYet(_logger, id, source.Name);
            }
            else
            {
                Log.Resolved(_logger, id, source.Name, generation.Endpoints.Length, source.Current.Version);
            }
        }

        if (resolved is null)
        {
            return _inner is null ? new ResolvedDestinationCollection(destinations, null) : await _inner.ResolveDestinationsAsync(destinations, cancellationToken).ConfigureAwait(false);
        }

        if (others is not null)
        {
            if (_inner is not null)
            {
                var inner = await _inner.ResolveDestinationsAsync(others, cancellationToken).ConfigureAwait(false);
                others = new(inner.Destinations, StringComparer.OrdinalIgnoreCase);
                if (inner.ChangeToken is { } innerToken)
                {
                    tokens!.Add(innerToken);
                }
            }

            foreach (var (id, destination) in others)
            {
                resolved.TryAdd(id, destination);
            }
        }

        return new ResolvedDestinationCollection(resolved, tokens!.Count == 1 ? tokens[0] : new CompositeChangeToken(tokens));
    }

    public void Dispose()
    {
        lock (_feedsLock)
        {
            foreach (var feed in _feeds.Values)
            {
                feed.Dispose();
            }

            _feeds.Clear();
        }
    }

    /// <summary>
    /// Whether YARP has not yet applied a configuration with the current endpoints of every Service resolved so far:
    /// discovery published since (typically its first lists, after YARP's first load at start-up).
    /// </summary>
    internal bool Behind
    {
        get
        {
            lock (_feedsLock)
            {
                foreach (var feed in _feeds.Values)
                {
                    if (!_applied.TryGetValue(feed, out var applied) || applied != feed.Current)
                    {
                        return true;
                    }
                }

                return false;
            }
        }
    }

    /// <summary>Completes at the next end of a YARP configuration load, applied or failed.</summary>
    internal Task NextApplied
    {
        get
        {
            lock (_feedsLock)
            {
                return _nextApplied.Task;
            }
        }
    }

    /// <summary>YARP applied the configuration last resolved (loads and applies run one at a time), or failed to.</summary>
    internal void OnConfigurationEnded(bool applied)
    {
        TaskCompletionSource ended;
        lock (_feedsLock)
        {
            if (applied)
            {
                _applied = new(_resolved);
            }

            ended = _nextApplied;
            _nextApplied = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        ended.TrySetResult();
    }

    /// <summary>The destination one endpoint becomes: the pod's address with the original's scheme path, metadata and settings.</summary>
    internal static DestinationConfig Expand(DestinationConfig original, KubernetesAddress address, BackendEndpoint endpoint)
    {
        var metadata = original.Metadata is null
            ? new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
            : new Dictionary<string, string>(original.Metadata, StringComparer.OrdinalIgnoreCase);
        metadata[KubernetesDestinationMetadataKeys.Service] = address.SourceName;
        metadata[KubernetesDestinationMetadataKeys.Ready] = Flag(endpoint, EndpointConditions.Ready);
        metadata[KubernetesDestinationMetadataKeys.Serving] = Flag(endpoint, EndpointConditions.Serving);
        metadata[KubernetesDestinationMetadataKeys.Terminating] = Flag(endpoint, EndpointConditions.Terminating);
        if (endpoint.Zone is { Length: > 0 } zone)
        {
            metadata[KubernetesDestinationMetadataKeys.Zone] = zone;
        }

        if (endpoint.ForZones.Count > 0)
        {
            metadata[KubernetesDestinationMetadataKeys.ForZones] = string.Join(',', endpoint.ForZones);
        }

        // A weight set on the destination applies to each of its pods; otherwise the endpoint's own.
        metadata.TryAdd(LoadBalancingMetadataKeys.Weight, endpoint.Weight.ToString(CultureInfo.InvariantCulture));

        return original with
        {
            Address = (address.Https ? "https://" : "http://") + endpoint.ToString() + address.Path,
            Metadata = metadata,
        };
    }

    private static string Flag(BackendEndpoint endpoint, EndpointConditions condition) => (endpoint.Conditions & condition) != 0 ? "true" : "false";

    private ServiceFeed.Generation Resolved(ServiceFeed feed)
    {
        lock (_feedsLock)
        {
            var generation = feed.Current;
            _resolved[feed] = generation;
            return generation;
        }
    }

    private ServiceFeed Feed(EndpointSource source)
    {
        lock (_feedsLock)
        {
            if (!_feeds.TryGetValue(source, out var feed))
            {
                feed = new ServiceFeed(source);
                _feeds[source] = feed;
            }

            return feed;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "Destination '{Destination}': {Source} has {Count} endpoints taking traffic (version {Version}).")]
        public static partial void Resolved(ILogger logger, string destination, string source, int count, long version);

        [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Destination '{Destination}': {Source} is not listed yet; no destinations until discovery lists it.")]
        public static partial void NotListedYet(ILogger logger, string destination, string source);
    }
}
