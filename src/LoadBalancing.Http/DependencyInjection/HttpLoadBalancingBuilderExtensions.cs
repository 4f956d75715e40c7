using LoadBalancing;
using LoadBalancing.Http;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Chooses where a load-balanced HTTP service's endpoints come from.</summary>
public static class HttpLoadBalancingBuilderExtensions
{
    /// <summary>A fixed list of endpoints, published once into a source of the service's name.</summary>
    /// <param name="builder">The service's builder.</param>
    /// <param name="endpoints">The endpoints (address, port, weight, ...).</param>
    /// <returns>The builder.</returns>
    public static IHttpLoadBalancingBuilder FromEndpoints(this IHttpLoadBalancingBuilder builder, params BackendEndpoint[] endpoints)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(endpoints);
        BackendEndpoint[] copy = [.. endpoints];
        var name = builder.ServiceName;
        return builder.FromSource(sp =>
        {
            var source = new EndpointSource(name, sp.GetService<TimeProvider>());
            source.Publish(copy);
            return source;
        });
    }

    /// <summary>An existing source: whatever publishes to it (code, a file watcher, discovery) moves the service's traffic.</summary>
    /// <param name="builder">The service's builder.</param>
    /// <param name="source">The source.</param>
    /// <returns>The builder.</returns>
    public static IHttpLoadBalancingBuilder FromSource(this IHttpLoadBalancingBuilder builder, EndpointSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return builder.FromSource(_ => source);
    }

    /// <summary>A source made from the container, once, on the service's first use.</summary>
    /// <param name="builder">The service's builder.</param>
    /// <param name="sourceFactory">Makes or finds the source.</param>
    /// <returns>The builder.</returns>
    public static IHttpLoadBalancingBuilder FromSource(this IHttpLoadBalancingBuilder builder, Func<IServiceProvider, EndpointSource> sourceFactory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(sourceFactory);
        builder.Services.Configure<HttpLoadBalancingOptions>(builder.ServiceName, o => o.SourceFactory = sourceFactory);
        return builder;
    }
}
