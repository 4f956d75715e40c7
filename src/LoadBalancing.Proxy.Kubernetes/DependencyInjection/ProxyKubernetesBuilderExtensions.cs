using LoadBalancing.Kubernetes;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Kubernetes;
using LoadBalancing.Proxy.Kubernetes.Controller;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Feeds the proxy's Kubernetes-named clusters from EndpointSlice discovery, and routes Ingress and Gateway API objects.</summary>
public static class ProxyKubernetesBuilderExtensions
{
    /// <summary>
    /// Registers Kubernetes discovery (a hosted service, with its <c>ready</c> and <c>live</c> health checks) from the
    /// <c>Kubernetes</c> section, following every Service the proxy's clusters name; those clusters, and any a reload
    /// adds or points at another Service, are fed from it. When the section enables them (<c>Ingress:Enabled</c>,
    /// <c>Gateway:Enabled</c>), the Ingress and Gateway API controllers too.
    /// </summary>
    /// <param name="proxy">The proxy builder.</param>
    /// <param name="section">The <c>Kubernetes</c> section.</param>
    /// <returns>The proxy builder.</returns>
    /// <exception cref="ProxyConfigurationException">The section is invalid; <see cref="ProxyConfigurationException.Errors"/> names every key.</exception>
    public static IProxyBuilder UseKubernetesDiscovery(this IProxyBuilder proxy, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        if (!ProxyKubernetesConfiguration.TryLoad(section, proxy.Options, out var options, out var routing, out var errors))
        {
            throw new ProxyConfigurationException(errors);
        }

        if (options is null)
        {
            return proxy;
        }

        proxy.UseKubernetesDiscovery(options);
        return routing.AnyEnabled ? proxy.UseKubernetesControllers(options, routing) : proxy;
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

    /// <summary>
    /// Routes Ingress and/or Gateway API objects (as <paramref name="routing"/> enables them) through the proxy: a
    /// hosted service watches them and publishes their routes as a route source; their backends are clusters fed by
    /// EndpointSlice discovery, so call <see cref="UseKubernetesDiscovery(IProxyBuilder, KubernetesDiscoveryOptions)"/>
    /// with the same <paramref name="discovery"/> options too (the <see cref="IConfiguration"/> overload does both).
    /// </summary>
    /// <param name="proxy">The proxy builder.</param>
    /// <param name="discovery">The discovery options: the API server, and how watches are timed and retried.</param>
    /// <param name="routing">The controller options.</param>
    /// <returns>The proxy builder.</returns>
    public static IProxyBuilder UseKubernetesControllers(this IProxyBuilder proxy, KubernetesDiscoveryOptions discovery, KubernetesRoutingOptions routing)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        ArgumentNullException.ThrowIfNull(discovery);
        ArgumentNullException.ThrowIfNull(routing);
        proxy.Services.AddSingleton(sp => new KubernetesControllers(
            discovery, routing, sp.GetRequiredService<KubernetesDiscovery>(), ServedPorts(proxy.Options), Http1OnlyPorts(proxy.Options), ServesTls(proxy.Options), sp.GetService<TimeProvider>() ?? TimeProvider.System, sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance,
            IngressPorts(proxy.Options)));
        proxy.Services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<KubernetesControllers>());
        if (routing.Ingress.Enabled)
        {
            proxy.AddRouteSource(sp => sp.GetRequiredService<KubernetesControllers>().Ingress!);
        }

        if (routing.Gateway.Enabled)
        {
            proxy.AddRouteSource(sp => sp.GetRequiredService<KubernetesControllers>().Gateway!);
        }

        // Secrets are read (and need RBAC) only when a listener serves TLS.
        if (ServesTls(proxy.Options))
        {
            proxy.UseServerCertificates(sp => sp.GetRequiredService<KubernetesControllers>().Certificates!);
        }

        return proxy;
    }

    private static bool ServesTls(ProxyOptions options) => options.Listeners.Any(IsHttps);

    /// <summary>The proxy's plain-HTTP and TLS listener ports, for the Ingress controller's ssl-redirect; null when one binds port 0.</summary>
    private static LoadBalancing.Proxy.Kubernetes.Ingress.IngressListeners? IngressPorts(ProxyOptions options) =>
        Ports(options, l => !IsHttps(l)) is { } cleartext && Ports(options, IsHttps) is { } tls ? new(cleartext, tls) : null;

    /// <summary>The known ports of listeners that speak HTTP/1.1 only (<c>Protocols: Http1</c>), which gRPC cannot reach.</summary>
    private static HashSet<int> Http1OnlyPorts(ProxyOptions options) => Ports(options, l => l.Protocols == ListenerProtocols.Http1) ?? [];

    /// <summary>The ports the proxy's listeners bind; null when one binds port 0 (chosen at start, so not known yet).</summary>
    private static HashSet<int>? ServedPorts(ProxyOptions options) => Ports(options, _ => true);

    /// <summary>The ports of the listeners <paramref name="which"/> selects; null when one of them binds port 0.</summary>
    private static HashSet<int>? Ports(ProxyOptions options, Func<ListenerOptions, bool> which)
    {
        var ports = new HashSet<int>();
        foreach (var listener in options.Listeners.Where(which))
        {
            if (!Uri.TryCreate(listener.Url, UriKind.Absolute, out var url) || url.Port == 0)
            {
                return null;
            }

            ports.Add(url.Port);
        }

        return ports;
    }

    private static bool IsHttps(ListenerOptions listener) => listener.Url.StartsWith("https:", StringComparison.OrdinalIgnoreCase);
}
