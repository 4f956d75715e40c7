using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Cors;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;

namespace LoadBalancing.Proxy.Routing;

/// <summary>
/// The ASP.NET Core policies a route asks the application to enforce before the proxy takes its requests
/// (<c>AuthorizationPolicy</c>, <c>RateLimiterPolicy</c>, <c>CorsPolicy</c>). They are enforced as the application's own endpoints' are,
/// by its middleware reading endpoint metadata: the mapped proxy's endpoint stands in for the route with this metadata
/// added (see <see cref="ProxyEndpointPolicy"/>). Value equality: routes with the same policies share one endpoint.
/// </summary>
internal sealed record RouteEndpointPolicies(string? Authorization, string? RateLimiter, string? Cors)
{
    /// <summary>The application's default authorization policy.</summary>
    public const string DefaultAuthorization = "Default";

    /// <summary>No authorization, even where the mapped proxy's conventions require it.</summary>
    public const string Anonymous = "Anonymous";

    /// <summary>No rate limiting for the route, the global limiter's included.</summary>
    public const string DisableRateLimiting = "Disable";

    /// <summary>The conventions' and the global limiter's, as if the route named none (YARP's spelling of it).</summary>
    public const string DefaultRateLimiting = "Default";

    /// <summary>The application's default CORS policy.</summary>
    public const string DefaultCors = "Default";

    /// <summary>No CORS: a preflight is answered 204 without CORS headers, as on an endpoint with <c>DisableCors()</c>.</summary>
    public const string DisableCors = "Disable";

    public static RouteEndpointPolicies? From(ProxyRouteOptions route) =>
        route.AuthorizationPolicy is null && route.RateLimiterPolicy is null && route.CorsPolicy is null
            ? null
            : new(route.AuthorizationPolicy, route.RateLimiterPolicy, route.CorsPolicy);

    /// <summary>The authorization policy's name when the route names one (not Default, not Anonymous).</summary>
    public string? NamedAuthorization =>
        Authorization is { } name && !IsDefaultAuthorization && !IsAnonymous ? name : null;

    /// <summary>The rate limiter policy's name when the route names one (not Disable, not Default).</summary>
    public string? NamedRateLimiter =>
        RateLimiter is { } name
        && !string.Equals(name, DisableRateLimiting, StringComparison.OrdinalIgnoreCase)
        && !string.Equals(name, DefaultRateLimiting, StringComparison.OrdinalIgnoreCase) ? name : null;

    /// <summary>The CORS policy's name when the route names one (not Default, not Disable).</summary>
    public string? NamedCors =>
        Cors is { } name && !IsDefaultCors && !IsDisabledCors ? name : null;

    /// <summary>Whether the route asks for the application's default CORS policy.</summary>
    public bool IsDefaultCors => string.Equals(Cors, DefaultCors, StringComparison.OrdinalIgnoreCase);

    private bool IsDisabledCors => string.Equals(Cors, DisableCors, StringComparison.OrdinalIgnoreCase);

    private bool IsDefaultAuthorization => string.Equals(Authorization, DefaultAuthorization, StringComparison.OrdinalIgnoreCase);

    private bool IsAnonymous => string.Equals(Authorization, Anonymous, StringComparison.OrdinalIgnoreCase);

    /// <summary>What ASP.NET Core's authorization, rate limiting and CORS middleware read from an endpoint; added after the conventions', so the route's rate limiter policy replaces theirs.</summary>
    public IEnumerable<object> Metadata()
    {
        if (Authorization is not null)
        {
            yield return IsAnonymous ? new AllowAnonymousAttribute()
                : IsDefaultAuthorization ? new AuthorizeAttribute()
                : new AuthorizeAttribute(Authorization);
        }

        if (RateLimiter is not null && !string.Equals(RateLimiter, DefaultRateLimiting, StringComparison.OrdinalIgnoreCase))
        {
            yield return string.Equals(RateLimiter, DisableRateLimiting, StringComparison.OrdinalIgnoreCase)
                ? new DisableRateLimitingAttribute()
                : new EnableRateLimitingAttribute(RateLimiter);
        }

        if (Cors is not null)
        {
            yield return IsDisabledCors ? new DisableCorsAttribute()
                : IsDefaultCors ? new EnableCorsAttribute()
                : new EnableCorsAttribute(Cors);
        }

        yield return new EnforcedRoutePolicies(this);
    }

    /// <summary>Whether the endpoint that routed this request enforced exactly these policies.</summary>
    public bool EnforcedFor(HttpContext context) =>
        context.GetEndpoint()?.Metadata.GetMetadata<EnforcedRoutePolicies>() is { } enforced && enforced.Policies == this;
}

/// <summary>Marks an endpoint that stands in for routes with these policies, so the proxy can check what was enforced.</summary>
internal sealed record EnforcedRoutePolicies(RouteEndpointPolicies Policies);
