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

    /// <summary>Mapped (<c>MapLoadBalancingProxy</c>): every authorization and CORS policy a route names exists in the application.</summary>
    public static IReadOnlyList<string> Missing(ProxyOptions options, IServiceProvider services)
    {
        var errors = new List<string>();
        MissingAuthorization(options, services, errors);
        MissingRateLimiters(options, services, errors);
        MissingCors(options, services, errors);
        return errors;
    }

    private static void MissingAuthorization(ProxyOptions options, IServiceProvider services, List<string> errors)
    {
        var provider = services.GetService<IAuthorizationPolicyProvider>();
        for (var i = 0; i < options.Routes.Count; i++)
        {
            var route = options.Routes[i];
            if (route.AuthorizationPolicy is null)
            {
                continue;
            }

            if (provider is null)
            {
                errors.Add($"{Key(i, "AuthorizationPolicy")}: '{route.AuthorizationPolicy}' needs the application's authorization (AddAuthorization()).");
            }
            else if (RouteEndpointPolicies.From(route)!.NamedAuthorization is { } name && !Exists(provider, name))
            {
                errors.Add($"{Key(i, "AuthorizationPolicy")}: the application has no authorization policy named '{name}' (Default and Anonymous are the other choices).");
            }
        }
    }

    private static void MissingRateLimiters(ProxyOptions options, IServiceProvider services, List<string> errors)
    {
        var known = RateLimiterPolicyNames.Of(services);
        for (var i = 0; i < options.Routes.Count; i++)
        {
            if (RouteEndpointPolicies.From(options.Routes[i])?.NamedRateLimiter is { } name && known?.Invoke(name) == false)
            {
                errors.Add($"{Key(i, "RateLimiterPolicy")}: the application has no rate limiter policy named '{name}' (Disable and Default are the other choices).");
            }
        }
    }

    private static void MissingCors(ProxyOptions options, IServiceProvider services, List<string> errors)
    {
        var provider = services.GetService<ICorsPolicyProvider>();
        for (var i = 0; i < options.Routes.Count; i++)
        {
            var route = options.Routes[i];
            if (route.CorsPolicy is null)
            {
                continue;
            }

            var policies = RouteEndpointPolicies.From(route)!;
            if (provider is null)
            {
                errors.Add($"{Key(i, "CorsPolicy")}: '{route.CorsPolicy}' needs the application's CORS (AddCors()).");
            }
            else if (policies.NamedCors is { } name && !CorsExists(provider, services, name))
            {
                errors.Add($"{Key(i, "CorsPolicy")}: the application has no CORS policy named '{name}' (Default and Disable are the other choices).");
            }
            else if (policies.IsDefaultCors && !CorsExists(provider, services, name: null))
            {
                errors.Add($"{Key(i, "CorsPolicy")}: the application has no default CORS policy (AddDefaultPolicy()).");
            }
        }
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
