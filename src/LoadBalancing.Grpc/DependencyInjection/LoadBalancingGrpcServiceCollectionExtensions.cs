using Grpc.Net.Client.Balancer;
using LoadBalancing;
using LoadBalancing.Grpc;
using LoadBalancing.Grpc.Internal;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers LoadBalancing's gRPC load-balancing policies and resolvers for grpc-dotnet channels.</summary>
public static class LoadBalancingGrpcServiceCollectionExtensions
{
    /// <summary>
    /// Registers the <c>peak_ewma</c>, <c>least_request</c>, <c>maglev</c> and <c>ring_hash</c> policies
    /// (<see cref="LoadBalancingPolicies"/>) as <see cref="LoadBalancerFactory"/> singletons. A channel sees them when
    /// its <c>GrpcChannelOptions.ServiceProvider</c> is this container, and selects one in its
    /// <c>ServiceConfig.LoadBalancingConfigs</c>. Calling it again changes nothing.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Adjusts the core balancer options of every channel's balancer (outlier detection, peak-EWMA, ring sizes, ...); the algorithm and fallback are the policy's.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddLoadBalancingGrpc(this IServiceCollection services, Action<BalancerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(PoliciesRegistered)))
        {
            return services;
        }

        services.AddSingleton<PoliciesRegistered>();
        services.TryAddSingleton(TimeProvider.System);
        (string Name, LoadBalancingAlgorithm Algorithm)[] policies =
        [
            (LoadBalancingPolicies.PeakEwma, LoadBalancingAlgorithm.PeakEwma),
            (LoadBalancingPolicies.LeastRequest, LoadBalancingAlgorithm.LeastRequest),
            (LoadBalancingPolicies.Maglev, LoadBalancingAlgorithm.Maglev),
            (LoadBalancingPolicies.RingHash, LoadBalancingAlgorithm.RingHash),
        ];
        foreach (var (name, algorithm) in policies)
        {
            services.AddSingleton<LoadBalancerFactory>(sp => new CoreLoadBalancerFactory(name, algorithm, configure, sp.GetRequiredService<TimeProvider>()));
        }

        return services;
    }

    /// <summary>
    /// Registers a resolver for channel targets of <paramref name="scheme"/> that follows an <see cref="EndpointSource"/>
    /// (see <see cref="EndpointSourceResolverFactory"/>).
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="scheme">The target scheme, for example <c>lb</c> for <c>lb:///orders</c>.</param>
    /// <param name="sourceFor">The source for a target; called once per channel.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddLoadBalancingGrpcResolver(this IServiceCollection services, string scheme, Func<IServiceProvider, Uri, EndpointSource> sourceFor)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(scheme);
        ArgumentNullException.ThrowIfNull(sourceFor);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<ResolverFactory>(sp => new EndpointSourceResolverFactory(scheme, uri => sourceFor(sp, uri), sp.GetRequiredService<TimeProvider>()));
        return services;
    }

    private sealed class PoliciesRegistered;
}
