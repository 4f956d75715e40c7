using LoadBalancing.Yarp.Feedback;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace LoadBalancing.Yarp.Internal;

/// <summary>A YARP policy picking with one of the core algorithms.</summary>
internal abstract partial class BalancingPolicy : ILoadBalancingPolicy
{
    private readonly ClusterBalancers _balancers;
    private readonly ILogger _logger;
    private readonly bool _needsFeedback;
    private ClusterBalancer? _last;
    private int _warnedNoFeedback;

    protected BalancingPolicy(ClusterBalancers balancers, ILogger logger, LoadBalancingAlgorithm algorithm)
    {
        _balancers = balancers;
        _logger = logger;
        Algorithm = algorithm;
        _needsFeedback = algorithm is LoadBalancingAlgorithm.LeastRequest or LoadBalancingAlgorithm.PeakEwma;
    }

    public abstract string Name { get; }

    public LoadBalancingAlgorithm Algorithm { get; }

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(availableDestinations);
        if (availableDestinations.Count == 0)
        {
            return null;
        }

        // Most proxies balance one or a few clusters: the last one saves the weak-table look-up.
        var balancer = _last;
        if (balancer is null || !ReferenceEquals(balancer.Cluster, cluster))
        {
            balancer = _balancers.Get(cluster, Algorithm);
            _last = balancer;
        }

        var feedback = context.Features.Get<PickFeedback>();
        if (feedback is null && _needsFeedback && _warnedNoFeedback == 0 && Interlocked.Exchange(ref _warnedNoFeedback, 1) == 0)
        {
            Log.NoFeedback(_logger, Name, cluster.ClusterId);
        }

        return balancer.Pick(context, cluster, availableDestinations, feedback);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Policy '{Policy}' picked for cluster '{ClusterId}' without outcome feedback: add UseLoadBalancingFeedback() to MapReverseProxy's pipeline, or it cannot learn requests in flight or latency.")]
        public static partial void NoFeedback(ILogger logger, string policy, string clusterId);
    }
}

internal sealed class MaglevPolicy(ClusterBalancers balancers, ILogger<MaglevPolicy> logger)
    : BalancingPolicy(balancers, logger, LoadBalancingAlgorithm.Maglev)
{
    public override string Name => LoadBalancingPolicyNames.Maglev;
}

internal sealed class RingHashPolicy(ClusterBalancers balancers, ILogger<RingHashPolicy> logger)
    : BalancingPolicy(balancers, logger, LoadBalancingAlgorithm.RingHash)
{
    public override string Name => LoadBalancingPolicyNames.RingHash;
}

internal sealed class PeakEwmaPolicy(ClusterBalancers balancers, ILogger<PeakEwmaPolicy> logger)
    : BalancingPolicy(balancers, logger, LoadBalancingAlgorithm.PeakEwma)
{
    public override string Name => LoadBalancingPolicyNames.PeakEwma;
}

internal sealed class LeastRequestPolicy(ClusterBalancers balancers, ILogger<LeastRequestPolicy> logger)
    : BalancingPolicy(balancers, logger, LoadBalancingAlgorithm.LeastRequest)
{
    public override string Name => LoadBalancingPolicyNames.LeastRequest;
}

internal sealed class RoundRobinPolicy(ClusterBalancers balancers, ILogger<RoundRobinPolicy> logger)
    : BalancingPolicy(balancers, logger, LoadBalancingAlgorithm.RoundRobin)
{
    public override string Name => LoadBalancingPolicyNames.RoundRobin;
}

internal sealed class RandomPolicy(ClusterBalancers balancers, ILogger<RandomPolicy> logger)
    : BalancingPolicy(balancers, logger, LoadBalancingAlgorithm.Random)
{
    public override string Name => LoadBalancingPolicyNames.Random;
}
