using LoadBalancing.Yarp;
using LoadBalancing.Yarp.Configuration;
using LoadBalancing.Yarp.Internal;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Yarp.ReverseProxy.Configuration.ClusterValidators;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the LoadBalancing policies with YARP.</summary>
public static class ReverseProxyBuilderLoadBalancingExtensions
{
    /// <summary>
    /// Adds the policies named in <see cref="LoadBalancingPolicyNames"/> (maglev, ring-hash, peak-EWMA, least-request,
    /// smooth weighted round-robin, weighted random) and a configuration check of their metadata
    /// (<see cref="LoadBalancingMetadataKeys"/>), which fails the configuration load naming the cluster, the key and the value.
    /// Add <c>UseLoadBalancingFeedback()</c> to the proxy pipeline so the policies learn each request's outcome.
    /// </summary>
    /// <param name="builder">YARP's builder.</param>
    /// <param name="configure">Adjusts the options, for example each cluster's balancer settings.</param>
    /// <returns>The same builder.</returns>
    public static IReverseProxyBuilder AddLoadBalancingPolicies(this IReverseProxyBuilder builder, Action<YarpLoadBalancingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<YarpLoadBalancingOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ClusterBalancers>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IClusterChangeListener, ClusterRemovalListener>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IClusterValidator, MetadataValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ILoadBalancingPolicy, MaglevPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ILoadBalancingPolicy, RingHashPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ILoadBalancingPolicy, PeakEwmaPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ILoadBalancingPolicy, LeastRequestPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ILoadBalancingPolicy, RoundRobinPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ILoadBalancingPolicy, RandomPolicy>());
        return builder;
    }
}
