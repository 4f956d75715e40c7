using LoadBalancing.Kubernetes;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Kubernetes;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Feeds the proxy's Kubernetes-named clusters from EndpointSlice discovery.</summary>
public static class ProxyKubernetesBuilderExtensions
{
    /// <summary>
    /// Registers Kubernetes discovery (a hosted service, with its <c>ready</c> and <c>live</c> health checks) from the
    /// <c>Kubernetes</c> section, following every Service the proxy's clusters name; those clusters, and any a reload
    /// adds or points at another Service, are fed from it.
    /// </summary>
    /// <param name="proxy">The proxy builder.</param>
    /// <param name="section">The <c>Kubernetes</c> section.</param>
    /// <returns>The proxy builder.</returns>
    /// <exception cref="ProxyConfigurationException">The section is invalid; <see cref="ProxyConfigurationException.Errors"/> names every key.</exception>
    public static IProxyBuilder UseKubernetesDiscovery(this IProxyBuilder proxy, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        if (!ProxyKubernetesConfiguration.TryLoad(section, proxy.Options, out var options, out var errors))
        {
            throw new ProxyConfigurationException(errors);
        }

        return options is null ? proxy : proxy.UseKubernetesDiscovery(options);
    }

    /// <summary>
    /// Registers Kubernetes discovery with options built in code (see <see cref="ProxyKubernetesConfiguration.TryLoad"/>
    /// for filling in the clusters' Services) and feeds every cluster that names a Service from it.
    /// </summary>
    /// <param name="proxy">The proxy builder.</param>
    /// <param name="options">The discovery options (validated now).</param>
    /// <returns>The proxy builder.</returns>
    public static IProxyBuilder UseKubernetesDiscovery(this IProxyBuilder proxy, KubernetesDiscoveryOptions options)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        ArgumentNullException.ThrowIfNull(options);
        proxy.Services.AddKubernetesDiscovery(options);

        // Discovery follows a Service from the first time it is asked for, so a reload can name new ones.
        return proxy.UseServiceEndpointSources(
            (services, service) => services.GetRequiredService<KubernetesDiscovery>().GetSource(service.Namespace, service.Service, service.Port),
            options.StaleAfter);
    }
}
