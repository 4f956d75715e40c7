using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;

namespace LoadBalancing.Proxy.Routing;

/// <summary>Marks the endpoints <c>MapLoadBalancingProxy</c> maps, and holds what deciding whether one applies needs.</summary>
internal sealed class ProxyEndpointMetadata(ProxyRuntime runtime, ProxyListeners listeners, bool isAdmin)
{
    /// <summary>Every path: which requests are the proxy's is decided by its own route table, at request time.</summary>
    public const string Pattern = "/{**path}";

    /// <summary>After every endpoint of the application (order 0 unless set), before a fallback (<c>int.MaxValue</c>).</summary>
    public const int Order = int.MaxValue - 1;

    // The endpoints standing in for routes with each set of policies, made for the configuration in service: replaced
    // with an empty set when a reload puts another in service, so a reload that names new policies cannot grow it
    // without bound. A request still holding an endpoint from before keeps it alive as long as it needs it.
    private PolicyVariants? _variants;

    public bool IsAdmin => isAdmin;

    /// <summary>The admin endpoint takes its own port and nothing else.</summary>
    public bool IsAdminPort(HttpContext context) => listeners.IsAdmin(context.Connection.LocalPort);

    /// <summary>
    /// The proxy's route for the request, in the snapshot in service, off the admin port: so a route added at runtime is
    /// served without rebuilding any endpoint. Null when the proxy has none.
    /// </summary>
    public ProxyRoute? Match(HttpContext context) =>
        IsAdminPort(context) ? null : runtime.Config.Routes.Match(context.Request);

    /// <summary>
    /// The mapped endpoint with the route's policies added to its metadata (after its conventions'), made once per set
    /// of policies: the application's authorization and rate limiting middleware then enforce them as on any endpoint.
    /// </summary>
    public Endpoint WithPolicies(Endpoint mapped, RouteEndpointPolicies policies)
    {
        var config = runtime.Config;
        var variants = Volatile.Read(ref _variants);
        if (variants is null || !ReferenceEquals(variants.Config, config))
        {
            // Two requests racing here each make a set; the one kept wins, the other's endpoint serves its one request.
            variants = new PolicyVariants(config);
            Volatile.Write(ref _variants, variants);
        }

        return variants.Endpoints.GetOrAdd(policies, static (p, mapped) =>
        {
            var route = (RouteEndpoint)mapped;
            return new RouteEndpoint(route.RequestDelegate!, route.RoutePattern, route.Order, new EndpointMetadataCollection([.. route.Metadata, .. p.Metadata()]), route.DisplayName);
        }, mapped);
    }

    /// <summary>How many endpoints stand in for routes with policies now (for tests).</summary>
    internal int PolicyVariantCount => Volatile.Read(ref _variants)?.Endpoints.Count ?? 0;

    private sealed record PolicyVariants(ProxyConfigSnapshot Config)
    {
        public System.Collections.Concurrent.ConcurrentDictionary<RouteEndpointPolicies, Endpoint> Endpoints { get; } = new();
    }
}

/// <summary>
/// Lets the proxy's catch-all endpoint take part in endpoint routing: it stays a candidate only when the proxy has a
/// route for the request, so what no proxy route matches goes to the application's fallback or its 404.
/// </summary>
internal sealed class ProxyEndpointPolicy : MatcherPolicy, IEndpointSelectorPolicy
{
    // Last, so every other policy has ruled on the application's candidates before they are compared with the proxy's.
    public override int Order => int.MaxValue;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints)
    {
        for (var i = 0; i < endpoints.Count; i++)
        {
            if (endpoints[i].Metadata.GetMetadata<ProxyEndpointMetadata>() is not null)
            {
                return true;
            }
        }

        return false;
    }

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        for (var i = 0; i < candidates.Count; i++)
        {
            if (candidates.IsValidCandidate(i) && candidates[i].Endpoint.Metadata.GetMetadata<ProxyEndpointMetadata>() is { } proxy)
            {
                // An application endpoint that is still a candidate outranks the proxy: no need to match its routes.
                if (OutrankedByValid(candidates, i))
                {
                    candidates.SetValidity(i, false);
                }
                else if (proxy.IsAdmin)
                {
                    candidates.SetValidity(i, proxy.IsAdminPort(httpContext));
                }
                else if (proxy.Match(httpContext) is not { } route)
                {
                    candidates.SetValidity(i, false);
                }
                else if (route.EndpointPolicies is { } policies)
                {
                    // The route's own authorization and rate limiting: the request goes on as this endpoint's.
                    candidates.ReplaceEndpoint(i, proxy.WithPolicies(candidates[i].Endpoint, policies), candidates[i].Values);
                }
            }
        }

        return Task.CompletedTask;
    }

    private static bool OutrankedByValid(CandidateSet candidates, int index)
    {
        var score = candidates[index].Score;
        for (var j = 0; j < candidates.Count; j++)
        {
            if (j != index && candidates.IsValidCandidate(j) && candidates[j].Score < score)
            {
                return true;
            }
        }

        return false;
    }
}
