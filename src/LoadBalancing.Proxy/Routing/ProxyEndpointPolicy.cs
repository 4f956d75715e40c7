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

    /// <summary>
    /// The admin endpoint takes its own port; the proxy takes the other ports, and only requests one of its routes
    /// matches in the snapshot in service, so a route added at runtime is served without rebuilding any endpoint.
    /// </summary>
    public bool Accepts(HttpContext context)
    {
        var admin = listeners.IsAdmin(context.Connection.LocalPort);
        return isAdmin ? admin : !admin && runtime.Config.Routes.Match(context.Request) is not null;
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
                candidates.SetValidity(i, !OutrankedByValid(candidates, i) && proxy.Accepts(httpContext));
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
