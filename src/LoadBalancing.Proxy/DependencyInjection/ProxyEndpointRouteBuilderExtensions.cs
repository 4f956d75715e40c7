using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Routing;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the proxy as endpoints beside the application's own.</summary>
public static class ProxyEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps the proxy as one endpoint that takes every request a proxy route matches and no endpoint of the application
    /// does: the application's endpoints win wherever they match, a fallback (<c>MapFallback</c>) gets what no proxy
    /// route matches, and routes a reload or a route source adds are served as soon as they are in service. Conventions
    /// added to the returned builder (<c>RequireAuthorization</c>, <c>RequireRateLimiting</c>, <c>RequireCors</c>,
    /// metadata) apply to every proxied request; a route's own <c>AuthorizationPolicy</c> and <c>RateLimiterPolicy</c>
    /// apply to its requests besides (a route's rate limiter policy replaces the conventions'). The admin endpoint, when
    /// enabled, is mapped too and answers on its own port only, without those conventions. Readiness fails as soon as the
    /// host starts stopping.
    /// </summary>
    /// <param name="endpoints">The application's endpoint route builder (a <c>WebApplication</c>).</param>
    /// <returns>A builder for conventions that apply to proxied requests.</returns>
    /// <exception cref="ProxyConfigurationException">A route names an authorization policy the application does not have (a reload that does is refused the same way).</exception>
    public static IEndpointConventionBuilder MapLoadBalancingProxy(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var (runtime, proxy, admin, listeners) = ProxyApplicationBuilderExtensions.Prepare(endpoints.ServiceProvider);
        var services = endpoints.ServiceProvider;
        ProxyApplicationBuilderExtensions.EnforcePolicyCheck(runtime, options => RoutePolicyChecks.Missing(options, services));
        if (runtime.Options.Admin.Enabled)
        {
            Map(endpoints, admin.HandleAsync, new ProxyEndpointMetadata(runtime, listeners, isAdmin: true), "LoadBalancing admin");
        }

        return Map(endpoints, proxy.InvokeAsync, new ProxyEndpointMetadata(runtime, listeners, isAdmin: false), "LoadBalancing proxy");
    }

    private static IEndpointConventionBuilder Map(IEndpointRouteBuilder endpoints, RequestDelegate handler, ProxyEndpointMetadata metadata, string name)
    {
        var builder = endpoints.Map(ProxyEndpointMetadata.Pattern, handler).WithDisplayName(name).WithMetadata(metadata);
        builder.Add(static endpoint => ((RouteEndpointBuilder)endpoint).Order = ProxyEndpointMetadata.Order);
        return builder;
    }
}
