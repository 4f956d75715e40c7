using Yarp.ReverseProxy.Configuration;

namespace LoadBalancing.Yarp;

/// <summary>Options of the YARP policies, set through <c>AddLoadBalancingPolicies</c>.</summary>
public sealed class YarpLoadBalancingOptions
{
    /// <summary>
    /// Adjusts the balancer of one cluster when it is created (at the cluster's first request under one of the
    /// policies): outlier detection, peak-EWMA times, table sizes, bounded loads and so on. The algorithm is already
    /// set from the policy and should be left alone. Called with the cluster's configuration at that moment.
    /// </summary>
    public Action<ClusterConfig, BalancerOptions>? ConfigureBalancer { get; set; }
}
