using LoadBalancing;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers load balancing in a service collection.</summary>
public static class LoadBalancingServiceCollectionExtensions
{
    /// <summary>
    /// Adds the cluster registry (one endpoint source and one balancer per cluster) and a
    /// <see cref="TimeProvider"/> if none is registered.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <returns>A builder to add clusters with.</returns>
    public static ILoadBalancingBuilder AddLoadBalancing(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ClusterRegistry>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BalancerOptions>, BalancerOptionsValidator>());
        return new LoadBalancingBuilder(services);
    }

    private sealed class LoadBalancingBuilder(IServiceCollection services) : ILoadBalancingBuilder
    {
        public IServiceCollection Services { get; } = services;

        public ILoadBalancingBuilder AddCluster(string name, Action<BalancerOptions>? configure = null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(name);
            var options = Services.AddOptions<BalancerOptions>(name).ValidateOnStart();
            if (configure is not null)
            {
                options.Configure(configure);
            }

            Services.Configure<ClusterNames>(c => c.Names.Add(name));
            return this;
        }
    }
}

/// <summary>Adds clusters to a service collection.</summary>
public interface ILoadBalancingBuilder
{
    /// <summary>The services.</summary>
    IServiceCollection Services { get; }

    /// <summary>
    /// Adds a cluster: an <see cref="EndpointSource"/> and a <see cref="Balancer"/> with the named
    /// <see cref="BalancerOptions"/> (validated at start-up; bind them from configuration with
    /// <c>services.AddOptions&lt;BalancerOptions&gt;(name).BindConfiguration(section)</c>).
    /// </summary>
    /// <param name="name">The cluster name.</param>
    /// <param name="configure">Sets the options in code.</param>
    /// <returns>The builder.</returns>
    ILoadBalancingBuilder AddCluster(string name, Action<BalancerOptions>? configure = null);
}
