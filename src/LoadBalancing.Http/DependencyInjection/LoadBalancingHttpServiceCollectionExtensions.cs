using LoadBalancing.Http;
using LoadBalancing.Http.Balancing;
using LoadBalancing.Http.Internal;
using LoadBalancing.Http.ServiceDiscovery;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.ServiceDiscovery;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers load-balanced HTTP services, the balancing handler of <see cref="HttpClient"/>s and the service-discovery provider.</summary>
public static class LoadBalancingHttpServiceCollectionExtensions
{
    /// <summary>
    /// Balances this client's requests for <c>http://<paramref name="serviceName"/>/...</c> (and https) over the
    /// service's endpoints: each attempt picks an endpoint with the service's balancer, rewrites the request URI to it,
    /// and reports the response status and time to the headers (or the send's exception) back to the balancer. A
    /// request retries another endpoint when nothing was sent (connect failure), or, for an idempotent method with
    /// replayable content, after an exception or a status in <see cref="HttpLoadBalancingOptions.RetryStatusCodes"/>,
    /// up to <see cref="HttpLoadBalancingOptions.MaxAttempts"/>. Requests for other hosts pass through untouched.
    /// The handler joins the client's handler chain where this is called, but in front of ServiceDiscovery's handler
    /// (<c>AddServiceDiscovery</c>) when the client has that one already, so that it sees the logical host.
    /// </summary>
    /// <param name="builder">The client's builder.</param>
    /// <param name="serviceName">The logical host, for example <c>payments</c>.</param>
    /// <param name="configure">Sets the service's options (shared by every client of the service).</param>
    /// <returns>A builder to choose the endpoints with: <c>FromEndpoints</c>, <c>FromSource</c> or <c>FromKubernetes</c>.</returns>
    public static IHttpLoadBalancingBuilder AddLoadBalancing(this IHttpClientBuilder builder, string serviceName, Action<HttpLoadBalancingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var service = builder.Services.AddHttpLoadBalancing(serviceName, configure);
        builder.ConfigureAdditionalHttpMessageHandlers((handlers, sp) =>
        {
            var handler = new LoadBalancingHandler(
                sp.GetRequiredService<HttpServiceRegistry>(),
                serviceName,
                sp.GetRequiredService<TimeProvider>(),
                (sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("LoadBalancing.Http"));

            // ServiceDiscovery's handler, when the client has it (often from ConfigureHttpClientDefaults, so before
            // this one), would replace the logical host with an endpoint of its own choice: this handler goes in front.
            var discovery = IndexOfServiceDiscoveryHandler(handlers);
            if (discovery < 0)
            {
                handlers.Add(handler);
            }
            else
            {
                handlers.Insert(discovery, handler);
            }
        });
        return service;
    }

    /// <summary>
    /// Registers a load-balanced HTTP service without a client: for the service-discovery provider
    /// (<see cref="AddLoadBalancingServiceEndpointProvider"/>), or to set a service's options in one place. Calling it
    /// again for the same name adds to the same service's options.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="serviceName">The logical service name, for example <c>payments</c>.</param>
    /// <param name="configure">Sets the service's options.</param>
    /// <returns>A builder to choose the endpoints with.</returns>
    public static IHttpLoadBalancingBuilder AddHttpLoadBalancing(this IServiceCollection services, string serviceName, Action<HttpLoadBalancingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceName);
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<HttpServiceRegistry>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HttpLoadBalancingOptions>, HttpLoadBalancingOptionsValidator>());
        var options = services.AddOptions<HttpLoadBalancingOptions>(serviceName).ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.Configure<HttpServiceNames>(n =>
        {
            if (!n.Names.Contains(serviceName, StringComparer.OrdinalIgnoreCase))
            {
                n.Names.Add(serviceName);
            }
        });
        return new HttpLoadBalancingBuilder(services, serviceName);
    }

    /// <summary>
    /// Adds a Microsoft.Extensions.ServiceDiscovery endpoint provider that resolves the names registered with
    /// <see cref="AddLoadBalancing"/> or <see cref="AddHttpLoadBalancing"/> to their sources' ready endpoints, and
    /// tells the watcher when the source changes. Other names are left to the other providers. Register service
    /// discovery itself with <c>AddServiceDiscovery</c> or <c>AddServiceDiscoveryCore</c>. Calling it again changes nothing.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddLoadBalancingServiceEndpointProvider(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<HttpServiceRegistry>();
        services.Configure<HttpServiceNames>(_ => { });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IServiceEndpointProviderFactory, EndpointSourceProviderFactory>());
        return services;
    }

    private static int IndexOfServiceDiscoveryHandler(IList<DelegatingHandler> handlers)
    {
        for (var i = 0; i < handlers.Count; i++)
        {
            if (handlers[i].GetType().FullName == "Microsoft.Extensions.ServiceDiscovery.Http.ResolvingHttpDelegatingHandler")
            {
                return i;
            }
        }

        return -1;
    }

    private sealed class HttpLoadBalancingBuilder(IServiceCollection services, string serviceName) : IHttpLoadBalancingBuilder
    {
        public IServiceCollection Services { get; } = services;

        public string ServiceName { get; } = serviceName;
    }
}
