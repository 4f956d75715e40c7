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
    public string? NamedAuthorization => IsDefaultAuthorization || IsAnonymous ? null : Authorization;

    /// <summary>The rate limiter policy's name when the route names one (not Disable, not Default).</summary>
    public string? NamedRateLimiter => IsDefaultRateLimiting || IsDisabledRateLimiting ? null : RateLimiter;

    /// <summary>The CORS policy's name when the route names one (not Default, not Disable).</summary>
    public string? NamedCors => IsDefaultCors || IsDisabledCors ? null : Cors;

    /// <summary>Whether the route asks for the application's default CORS policy.</summary>
    public bool IsDefaultCors => Is(Cors, DefaultCors);

    private bool IsDisabledCors => Is(Cors, DisableCors);

    private bool IsDefaultAuthorization => Is(Authorization, DefaultAuthorization);

    private bool IsAnonymous => Is(Authorization, Anonymous);

    private bool IsDefaultRateLimiting => Is(RateLimiter, DefaultRateLimiting);

    private bool IsDisabledRateLimiting => Is(RateLimiter, DisableRateLimiting);

    /// <summary>What ASP.NET Core's authorization, rate limiting and CORS middleware read from an endpoint; added after the conventions', so the route's rate limiter policy replaces theirs.</summary>
    public IEnumerable<object> Metadata()
    {
        if (Authorization is not null)
        {
            yield return IsAnonymous ? new AllowAnonymousAttribute()
                : IsDefaultAuthorization ? new AuthorizeAttribute()
                : new AuthorizeAttribute(Authorization);
        }

        if (RateLimiter is not null && !IsDefaultRateLimiting)
        {
            yield return IsDisabledRateLimiting ? new DisableRateLimitingAttribute() : new EnableRateLimitingAttribute(RateLimiter);
        }

        if (Cors is not null)
        {
            yield return IsDisabledCors ? new DisableCorsAttribute()
                : IsDefaultCors ? new EnableCorsAttribute()
                : new EnableCorsAttribute(Cors);
        }

        yield return new EnforcedRoutePolicies(this);
    }

    // The keywords are YARP's, matched in any case; any other value is a policy's name.
    private static bool Is(string? value, string keyword) => string.Equals(value, keyword, StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether the endpoint that routed this request enforced exactly these policies.</summary>
    public bool EnforcedFor(HttpContext context) =>
        context.GetEndpoint()?.Metadata.GetMetadata<EnforcedRoutePolicies>() is { } enforced && enforced.Policies == this;
}

/// <summary>Marks an endpoint that stands in for routes with these policies, so the proxy can check what was enforced.</summary>
internal sealed record EnforcedRoutePolicies(RouteEndpointPolicies Policies);
