using LoadBalancing;
using LoadBalancing.Proxy;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Configures the proxy registered by <see cref="ProxyServiceCollectionExtensions.AddLoadBalancingProxy(IServiceCollection, ProxyOptions)"/>.</summary>
public interface IProxyBuilder
{
    /// <summary>The service collection.</summary>
    IServiceCollection Services { get; }

    /// <summary>The validated proxy options.</summary>
    ProxyOptions Options { get; }

    /// <summary>
    /// Feeds a configured cluster from <paramref name="source"/> (for example Kubernetes discovery) instead of
    /// its static endpoints.
    /// </summary>
    /// <param name="cluster">The cluster name, as configured.</param>
    /// <param name="source">The source that publishes the cluster's endpoints.</param>
    /// <param name="stalenessBound">
    /// How long the list may go unconfirmed before the cluster counts as stale (readiness fails, metrics say so);
    /// null never counts it stale.
    /// </param>
    /// <returns>This builder.</returns>
    IProxyBuilder UseEndpointSource(string cluster, EndpointSource source, TimeSpan? stalenessBound);

    /// <summary>Feeds a configured cluster from a source resolved when the proxy starts (for example from discovery registered in the container).</summary>
    /// <param name="cluster">The cluster name, as configured.</param>
    /// <param name="source">Resolves the source from the application's services.</param>
    /// <param name="stalenessBound">How long the list may go unconfirmed before the cluster counts as stale; null never counts it stale.</param>
    /// <returns>This builder.</returns>
    IProxyBuilder UseEndpointSource(string cluster, Func<IServiceProvider, EndpointSource> source, TimeSpan? stalenessBound);

    /// <summary>
    /// Feeds every cluster that names a Kubernetes Service (<see cref="ClusterOptions.Kubernetes"/>) from the source
    /// <paramref name="resolve"/> returns for it — the clusters configured at start and those a reload adds or points
    /// at another Service. A cluster with its own <see cref="UseEndpointSource(string, EndpointSource, TimeSpan?)"/>
    /// keeps that. When <paramref name="resolve"/> throws <see cref="ArgumentException"/>, the configuration is refused
    /// with its message under the cluster's <c>Kubernetes</c> key.
    /// </summary>
    /// <param name="resolve">Returns the source of a Service port; called once per Service port and reused.</param>
    /// <param name="stalenessBound">How long a list may go unconfirmed before its cluster counts as stale; null never counts it stale.</param>
    /// <returns>This builder.</returns>
    IProxyBuilder UseServiceEndpointSources(Func<IServiceProvider, KubernetesServiceOptions, EndpointSource> resolve, TimeSpan? stalenessBound);

    /// <summary>
    /// Adds a source of routes and clusters besides the configuration (for example Kubernetes Ingress objects): its
    /// sets join the configuration in every snapshot, and each time it publishes the proxy builds, validates and swaps
    /// in a new one. See <see cref="ProxyRouteSource"/>.
    /// </summary>
    /// <param name="source">Creates the source from the application's services, when the proxy starts.</param>
    /// <returns>This builder.</returns>
    IProxyBuilder AddRouteSource(Func<IServiceProvider, ProxyRouteSource> source);

    /// <summary>
    /// Makes the https listeners choose their certificate by the server name a client asks for (SNI) from
    /// <paramref name="source"/>, consulted on every handshake; a listener's own <see cref="ListenerOptions.CertificatePath"/>
    /// certificate is the fallback when the source has none for the name, and an https listener needs no
    /// <see cref="ListenerOptions.CertificatePath"/> of its own. A handshake for which neither has a certificate fails.
    /// A later call replaces the source.
    /// </summary>
    /// <param name="source">The source of server certificates.</param>
    /// <returns>This builder.</returns>
    IProxyBuilder UseServerCertificates(ServerCertificateSource source);

    /// <summary>Like <see cref="UseServerCertificates(ServerCertificateSource)"/>, with a source created from the application's services when the listeners are set up (at start).</summary>
    /// <param name="source">Creates the source from the application's services.</param>
    /// <returns>This builder.</returns>
    IProxyBuilder UseServerCertificates(Func<IServiceProvider, ServerCertificateSource> source);

    /// <summary>
    /// Lets the running proxy take a new configuration: from <see cref="ProxyReloadOptions.Read"/> when the watched
    /// file changes, on <c>SIGHUP</c> and on the admin endpoint's <c>POST /config/reload</c>. A new configuration is
    /// validated in full first; an invalid one leaves the last good one in service. See docs/proxy.md, Live configuration.
    /// </summary>
    /// <param name="configure">Sets where the configuration is read from and what triggers a reload.</param>
    /// <returns>This builder.</returns>
    IProxyBuilder UseConfigurationReload(Action<ProxyReloadOptions> configure);
}
