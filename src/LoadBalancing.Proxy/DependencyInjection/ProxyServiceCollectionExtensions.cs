using System.Diagnostics.Metrics;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.AccessLog;
using LoadBalancing.Proxy.Admin;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the load-balancing proxy.</summary>
public static class ProxyServiceCollectionExtensions
{
    /// <summary>Registers the proxy from a configuration section (normally <c>Proxy</c>), validated now.</summary>
    /// <param name="services">The services.</param>
    /// <param name="section">The proxy's configuration section.</param>
    /// <returns>A builder for further set-up.</returns>
    /// <exception cref="ProxyConfigurationException">The configuration is invalid; the message names every bad key.</exception>
    public static IProxyBuilder AddLoadBalancingProxy(this IServiceCollection services, IConfiguration section) =>
        services.AddLoadBalancingProxy(ProxyConfiguration.Load(section));

    /// <summary>Registers the proxy with options built in code, validated now.</summary>
    /// <param name="services">The services.</param>
    /// <param name="options">The proxy options.</param>
    /// <returns>A builder for further set-up.</returns>
    /// <exception cref="ProxyConfigurationException">The options are invalid; the message names every bad key.</exception>
    public static IProxyBuilder AddLoadBalancingProxy(this IServiceCollection services, ProxyOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        ProxyConfiguration.Validate(options);

        var registry = new ClusterSourceRegistry();
        services.TryAddSingleton(TimeProvider.System);

        // The proxy's meter comes from the application's IMeterFactory, so its OpenTelemetry set-up sees it; AddMetrics only adds what is missing.
        services.AddMetrics();
        services.AddSingleton(options);
        services.AddSingleton(registry);
        services.TryAddSingleton<ProxyListeners>();
        services.AddSingleton(sp => new ProxyRuntime(
            options,
            registry,
            sp,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IMeterFactory>()));
        services.AddSingleton(sp => CreateAccessLog(sp, options.AccessLog));
        services.AddSingleton(sp => new ProxyMiddleware(sp.GetRequiredService<ProxyRuntime>(), sp.GetRequiredService<AccessLogHolder>().Writer));
        services.AddSingleton(sp => new AdminHandler(sp.GetRequiredService<ProxyRuntime>(), sp.GetService<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckService>(), sp.GetService<ConfigReloader>()));
        services.Configure<HostOptions>(host => host.ShutdownTimeout = options.DrainTimeout);

        // Endpoint routing consults it only when MapLoadBalancingProxy has mapped the proxy's endpoints.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.AspNetCore.Routing.MatcherPolicy, LoadBalancing.Proxy.Routing.ProxyEndpointPolicy>());
        return new ProxyBuilder(services, options, registry);
    }

    private static AccessLogHolder CreateAccessLog(IServiceProvider services, AccessLogOptions options)
    {
        var runtime = services.GetRequiredService<ProxyRuntime>();
        AccessLogWriter? writer = null;
        if (options.Enabled)
        {
            var logger = services.GetService<ILoggerFactory>()?.CreateLogger(typeof(AccessLogWriter).FullName!) ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
            try
            {
                writer = new AccessLogWriter(options, services.GetRequiredService<TimeProvider>(), logger, services.GetService<AccessLogOutput>());
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ProxyConfigurationException([$"{ProxyConfiguration.SectionName}:AccessLog:Path: cannot open '{options.Path}': {e.Message}"]);
            }
        }

        runtime.Metrics.ObserveAccessLog(() => writer?.Dropped ?? 0);
        return new AccessLogHolder(writer);
    }
}

/// <summary>The access log writer, or none when the log is off; disposed (flushed) with the service provider.</summary>
internal sealed class AccessLogHolder(AccessLogWriter? writer) : IAsyncDisposable
{
    public AccessLogWriter? Writer => writer;

    public ValueTask DisposeAsync() => writer?.DisposeAsync() ?? ValueTask.CompletedTask;
}

/// <summary>The default <see cref="IProxyBuilder"/>.</summary>
internal sealed class ProxyBuilder(IServiceCollection services, ProxyOptions options, ClusterSourceRegistry registry) : IProxyBuilder
{
    public IServiceCollection Services => services;

    public ProxyOptions Options => options;

    public IProxyBuilder UseEndpointSource(string cluster, LoadBalancing.EndpointSource source, TimeSpan? stalenessBound)
    {
        ArgumentNullException.ThrowIfNull(source);
        return UseEndpointSource(cluster, _ => source, stalenessBound);
    }

    public IProxyBuilder UseEndpointSource(string cluster, Func<IServiceProvider, LoadBalancing.EndpointSource> source, TimeSpan? stalenessBound)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!options.Clusters.ContainsKey(cluster))
        {
            throw new ProxyConfigurationException([$"{ProxyConfiguration.SectionName}:Clusters:{cluster}: no such cluster to attach an endpoint source to."]);
        }

        registry.Sources[cluster] = new ClusterSourceRegistration(source, stalenessBound);
        return this;
    }

    public IProxyBuilder UseServiceEndpointSources(Func<IServiceProvider, KubernetesServiceOptions, LoadBalancing.EndpointSource> resolve, TimeSpan? stalenessBound)
    {
        ArgumentNullException.ThrowIfNull(resolve);
        registry.ServiceSources = new ServiceSourceResolver(resolve, stalenessBound);
        return this;
    }

    public IProxyBuilder AddRouteSource(Func<IServiceProvider, ProxyRouteSource> source)
    {
        ArgumentNullException.ThrowIfNull(source);
        registry.RouteSources.Add(source);
        return this;
    }

    public IProxyBuilder UseServerCertificates(ServerCertificateSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return UseServerCertificates(_ => source);
    }

    public IProxyBuilder UseServerCertificates(Func<IServiceProvider, ServerCertificateSource> source)
    {
        ArgumentNullException.ThrowIfNull(source);
        services.RemoveAll<ServerCertificates>();
        services.AddSingleton(sp => new ServerCertificates(source(sp) ?? throw new InvalidOperationException("The server certificate source factory returned null.")));
        return this;
    }

    public IProxyBuilder UseConfigurationReload(Action<ProxyReloadOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var reload = new ProxyReloadOptions();
        configure(reload);
        if (reload.Read is null)
        {
            throw new ArgumentException($"{nameof(ProxyReloadOptions)}.{nameof(ProxyReloadOptions.Read)} must be set.", nameof(configure));
        }

        services.AddSingleton(sp => new ConfigReloader(sp.GetRequiredService<ProxyRuntime>(), reload, sp.GetRequiredService<ILogger<ConfigReloader>>()));
        services.AddHostedService(sp => sp.GetRequiredService<ConfigReloader>());
        return this;
    }
}

/// <summary>The server certificate source registered with <see cref="IProxyBuilder.UseServerCertificates(ServerCertificateSource)"/>, for the https listeners.</summary>
internal sealed class ServerCertificates(ServerCertificateSource source)
{
    public ServerCertificateSource Source => source;
}
