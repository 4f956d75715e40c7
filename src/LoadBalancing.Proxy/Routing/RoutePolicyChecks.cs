using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancing.Proxy.Routing;

/// <summary>
/// The routes' ASP.NET Core policies checked against how the proxy is hosted, at start and on every reload, so a route
/// whose policy nothing would enforce is refused with its key path instead of being served without it.
/// </summary>
internal static class RoutePolicyChecks
{
    /// <summary>As middleware (<c>UseLoadBalancingProxy</c>) no endpoint carries the policies: any route that names one is refused.</summary>
    public static IReadOnlyList<string> Unenforceable(ProxyOptions options)
    {
        var errors = new List<string>();
        for (var i = 0; i < options.Routes.Count; i++)
        {
            var route = options.Routes[i];
            foreach (var (key, value) in Named(route))
            {
                errors.Add($"{Key(i, key)}: '{value}' cannot be enforced by the proxy as middleware (UseLoadBalancingProxy, as ProxyHost runs it); map it with MapLoadBalancingProxy() in an application that has {Feature(key)}.");
            }
        }

        return errors;
    }

    /// <summary>Mapped (<c>MapLoadBalancingProxy</c>): every policy a route names exists in the application.</summary>
    public static IReadOnlyList<string> Missing(ProxyOptions options, IServiceProvider services)
    {
        var errors = new List<string>();
        var authorization = services.GetService<IAuthorizationPolicyProvider>();
        var rateLimiters = RateLimiterPolicyNames.Of(services);
        var cors = services.GetService<ICorsPolicyProvider>();
        for (var i = 0; i < options.Routes.Count; i++)
        {
            if (RouteEndpointPolicies.From(options.Routes[i]) is not { } policies)
            {
                continue;
            }

            if (policies.Authorization is { } authorizationPolicy)
            {
                if (authorization is null)
                {
                    errors.Add($"{Key(i, "AuthorizationPolicy")}: '{authorizationPolicy}' needs the application's authorization (AddAuthorization()).");
                }
                else if (policies.NamedAuthorization is { } name && !Exists(authorization, name))
                {
                    errors.Add($"{Key(i, "AuthorizationPolicy")}: the application has no authorization policy named '{name}' (Default and Anonymous are the other choices).");
                }
            }

            // Null when the options cannot be read: ASP.NET Core then answers 500 to a request whose policy it lacks.
            if (policies.NamedRateLimiter is { } rateLimiter && rateLimiters?.Invoke(rateLimiter) == false)
            {
                errors.Add($"{Key(i, "RateLimiterPolicy")}: the application has no rate limiter policy named '{rateLimiter}' (Disable and Default are the other choices).");
            }

            if (policies.Cors is { } corsPolicy)
            {
                if (cors is null)
                {
                    errors.Add($"{Key(i, "CorsPolicy")}: '{corsPolicy}' needs the application's CORS (AddCors()).");
                }
                else if (policies.NamedCors is { } name && !CorsExists(cors, services, name))
                {
                    errors.Add($"{Key(i, "CorsPolicy")}: the application has no CORS policy named '{name}' (Default and Disable are the other choices).");
                }
                else if (policies.IsDefaultCors && !CorsExists(cors, services, name: null))
                {
                    errors.Add($"{Key(i, "CorsPolicy")}: the application has no default CORS policy (AddDefaultPolicy()).");
                }
            }
        }

        return errors;
    }

    // The provider asks for a request; a policy that depends on one is looked up as for a request with nothing in it.
    private static bool CorsExists(ICorsPolicyProvider provider, IServiceProvider services, string? name) =>
        provider.GetPolicyAsync(new DefaultHttpContext { RequestServices = services }, name).GetAwaiter().GetResult() is not null;

    private static string Feature(string key) => key switch
    {
        "AuthorizationPolicy" => "authorization",
        "RateLimiterPolicy" => "rate limiting",
        _ => "CORS",
    };

    // The default provider answers at once; a custom one that waits blocks this (start-up or reload) thread only.
    private static bool Exists(IAuthorizationPolicyProvider provider, string name) =>
        provider.GetPolicyAsync(name).GetAwaiter().GetResult() is not null;

    private static IEnumerable<(string Key, string Value)> Named(ProxyRouteOptions route)
    {
        if (route.AuthorizationPolicy is { } authorization)
        {
            yield return ("AuthorizationPolicy", authorization);
        }

        if (route.RateLimiterPolicy is { } rateLimiter)
        {
            yield return ("RateLimiterPolicy", rateLimiter);
        }

        if (route.CorsPolicy is { } cors)
        {
            yield return ("CorsPolicy", cors);
        }
    }

    private static string Key(int route, string key) => $"{ProxyConfiguration.SectionName}:Routes:{route}:{key}";
}
