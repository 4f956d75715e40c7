using Grpc.Net.Client.Balancer;
using LoadBalancing.Grpc.Kubernetes;
using LoadBalancing.Kubernetes;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the <c>k8s:///</c> resolver for grpc-dotnet channels.</summary>
public static class LoadBalancingGrpcKubernetesServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="KubernetesResolverFactory"/> (scheme <c>k8s</c>) as a <see cref="ResolverFactory"/>, fed by the
    /// <see cref="KubernetesDiscovery"/> in the container (register it with <c>AddKubernetesDiscovery</c>). A channel sees
    /// it when its <c>GrpcChannelOptions.ServiceProvider</c> is this container.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddLoadBalancingGrpcKubernetes(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton<ResolverFactory>(sp => new KubernetesResolverFactory(sp.GetRequiredService<KubernetesDiscovery>(), sp.GetService<TimeProvider>()));
        return services;
    }
}
