using LoadBalancing.Yarp.Configuration;
using LoadBalancing.Yarp.Feedback;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

namespace LoadBalancing.Yarp.Internal;

/// <summary>
/// One cluster under one algorithm: a core <see cref="Balancer"/> over an <see cref="EndpointSource"/> that mirrors the
/// cluster's available destinations. The mirror is rebuilt only when YARP hands over a different list of destinations
/// (a new list object whose contents differ, or a changed cluster model); a pick checks that with reference compares.
/// </summary>
internal sealed class ClusterBalancer : IDisposable
{
    // A destination's identity in the core: unique per destination id, never mistaken for an IP address.
    private const string AddressPrefix = "destination/";
    private const int Port = 1;

    private readonly Lock _updateLock = new();
    private readonly EndpointSource _source;
    private volatile Mirror _mirror = Mirror.Empty;

    public ClusterBalancer(ClusterState cluster, LoadBalancingAlgorithm algorithm, YarpLoadBalancingOptions options, TimeProvider time)
    {
        Cluster = cluster;
        var balancerOptions = new BalancerOptions { Algorithm = algorithm };
        options.ConfigureBalancer?.Invoke(cluster.Model?.Config ?? new ClusterConfig { ClusterId = cluster.ClusterId }, balancerOptions);
        _source = new EndpointSource(cluster.ClusterId, time);
        Balancer = new Balancer(_source, balancerOptions, time);
    }

    public ClusterState Cluster { get; }

    public Balancer Balancer { get; }

    internal Mirror CurrentMirror => _mirror;

    /// <summary>Picks a destination; with <paramref name="feedback"/> the pick is kept for the request's outcome, otherwise given back at once.</summary>
    public DestinationState? Pick(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> available, PickFeedback? feedback)
    {
        var mirror = _mirror;
        if ((!ReferenceEquals(mirror.List, available) && !ReferenceEquals(mirror.Alias, available))
            || mirror.Count != available.Count
            || !ReferenceEquals(mirror.Model, cluster.Model))
        {
            mirror = Update(cluster, available);
        }

        var pickContext = mirror.Key.GetContext(context);
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var pick = Balancer.Pick(in pickContext);
            if (pick.Status != PickStatus.Picked)
            {
                // Nothing usable (or a configured fallback, which is no YARP destination): YARP answers 503.
                pick.Release();
                return null;
            }

            if (mirror.ByState.TryGetValue(pick.State!, out var destination))
            {
                if (feedback is null)
                {
                    pick.Release();
                }
                else
                {
                    feedback.Set(pick, destination);
                }

                return destination;
            }

            // The pick came from a picker of another mirror (a concurrent update): give it back and ask again.
            pick.Release();
            mirror = _mirror;
        }

        return null;
    }

    public void Dispose() => Balancer.Dispose();

    private Mirror Update(ClusterState cluster, IReadOnlyList<DestinationState> available)
    {
        lock (_updateLock)
        {
            var current = _mirror;
            var model = cluster.Model;
            if (ReferenceEquals(current.Model, model) && current.Count == available.Count && current.HasSameDestinations(available))
            {
                // Same destinations in a new list object: remember the list, publish nothing.
                current.Alias = available;
                return current;
            }

            var key = HashKeySelector.None;
            if (model is not null && !YarpMetadata.TryGetHashKey(model.Config, out key, out var error))
            {
                throw new InvalidOperationException(error);
            }

            var count = available.Count;
            var destinations = new DestinationState[count];
            var models = new DestinationModel?[count];
            var endpoints = new BackendEndpoint[count];
            var byId = new Dictionary<string, DestinationState>(count, StringComparer.Ordinal);
            for (var i = 0; i < count; i++)
            {
                var destination = available[i];
                var destinationModel = destination.Model;
                var weight = 1;
                if (destinationModel is not null && !YarpMetadata.TryGetWeight(cluster.ClusterId, destination.DestinationId, destinationModel.Config, out weight, out error))
                {
                    throw new InvalidOperationException(error);
                }

                destinations[i] = destination;
                models[i] = destinationModel;
                endpoints[i] = new BackendEndpoint(AddressPrefix + destination.DestinationId, Port, weight, hashKey: destination.DestinationId);
                if (!byId.TryAdd(destination.DestinationId, destination))
                {
                    throw new InvalidOperationException($"Cluster '{cluster.ClusterId}': destination '{destination.DestinationId}' is available twice.");
                }
            }

            var set = _source.Publish(endpoints);
            var byState = new Dictionary<EndpointState, DestinationState>(count);
            for (var j = 0; j < set.Count; j++)
            {
                byState[set.States[j]] = byId[set.Endpoints[j].HashKey];
            }

            var next = new Mirror(available, model, destinations, models, byState, key);
            _mirror = next;
            return next;
        }
    }

    /// <summary>What the current endpoint set was built from, and the way back from an endpoint to its destination.</summary>
    internal sealed class Mirror(
        IReadOnlyList<DestinationState>? list,
        ClusterModel? model,
        DestinationState[] destinations,
        DestinationModel?[] models,
        Dictionary<EndpointState, DestinationState> byState,
        HashKeySelector key)
    {
        private volatile IReadOnlyList<DestinationState>? _alias;

        public static Mirror Empty { get; } = new(null, null, [], [], [], HashKeySelector.None);

        public IReadOnlyList<DestinationState>? List { get; } = list;

        /// <summary>A later list object with the same destinations, so it takes the fast path too.</summary>
        public IReadOnlyList<DestinationState>? Alias
        {
            get => _alias;
            set => _alias = value;
        }

        public int Count { get; } = destinations.Length;

        public ClusterModel? Model { get; } = model;

        public Dictionary<EndpointState, DestinationState> ByState { get; } = byState;

        public HashKeySelector Key { get; } = key;

        public bool HasSameDestinations(IReadOnlyList<DestinationState> available)
        {
            if (List is null)
            {
                return false;
            }

            for (var i = 0; i < destinations.Length; i++)
            {
                var destination = available[i];
                if (!ReferenceEquals(destination, destinations[i]) || !ReferenceEquals(destination.Model, models[i]))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
