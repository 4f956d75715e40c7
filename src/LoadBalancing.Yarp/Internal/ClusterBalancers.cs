using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Model;

namespace LoadBalancing.Yarp.Internal;

/// <summary>
/// Every cluster's balancers, one per algorithm the cluster has been balanced with. Held weakly by cluster, as YARP's
/// own policies hold their counters; disposed when YARP removes the cluster.
/// </summary>
internal sealed class ClusterBalancers(IOptions<YarpLoadBalancingOptions> options, TimeProvider time)
{
    private const int AlgorithmCount = (int)LoadBalancingAlgorithm.Maglev + 1;

    private readonly ConditionalWeakTable<ClusterState, ClusterBalancer?[]> _clusters = new();
    private readonly Lock _createLock = new();
    private readonly YarpLoadBalancingOptions _options = options.Value;

    public ClusterBalancer Get(ClusterState cluster, LoadBalancingAlgorithm algorithm)
    {
        if (_clusters.TryGetValue(cluster, out var slots) && Volatile.Read(ref slots[(int)algorithm]) is { } existing)
        {
            return existing;
        }

        lock (_createLock)
        {
            slots = _clusters.GetValue(cluster, static _ => new ClusterBalancer?[AlgorithmCount]);
            if (slots[(int)algorithm] is { } raced)
            {
                return raced;
            }

            var created = new ClusterBalancer(cluster, algorithm, _options, time);
            Volatile.Write(ref slots[(int)algorithm], created);
            return created;
        }
    }

    public void Remove(ClusterState cluster)
    {
        lock (_createLock)
        {
            if (!_clusters.TryGetValue(cluster, out var slots))
            {
                return;
            }

            _clusters.Remove(cluster);
            foreach (var balancer in slots)
            {
                balancer?.Dispose();
            }
        }
    }
}

/// <summary>Lets go of a cluster's balancers when YARP removes the cluster.</summary>
internal sealed class ClusterRemovalListener(ClusterBalancers balancers) : IClusterChangeListener
{
    public void OnClusterAdded(ClusterState cluster)
    {
    }

    public void OnClusterChanged(ClusterState cluster)
    {
    }

    public void OnClusterRemoved(ClusterState cluster) => balancers.Remove(cluster);
}
