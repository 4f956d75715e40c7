using System.Text;
using System.Text.RegularExpressions;
using LoadBalancing.Proxy.Clusters;
using LoadBalancing.Proxy.Forwarding;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Routing;

/// <summary>What a matched route does with a request.</summary>
internal enum RouteAction
{
    Forward,
    Redirect,
    DirectResponse,
}

/// <summary>
/// One route as the proxy runs it: its match, compiled (a regular expression built once, conditions in arrays), and
/// its actions with everything a request needs prepared (cluster references, cumulative weights, body bytes).
/// Immutable and part of one configuration snapshot.
/// </summary>
internal sealed class ProxyRoute
{
    private readonly ProxyCluster[] _clusters;
    private readonly int[] _cumulativeWeights;

    public ProxyRoute(ProxyRouteOptions options, int index, IReadOnlyDictionary<string, ProxyCluster> clusters)
    {
        Index = index;
        Name = string.IsNullOrEmpty(options.Name) ? "route-" + index : options.Name;
        Hosts = options.Hosts.Count == 0 ? ["*"] : [.. options.Hosts.Select(static h => h.Trim().TrimEnd('.'))];
        PathType = options.PathType;
        Path = PathType == PathMatchType.Prefix ? PathPrefix.Normalize(options.Path) : options.Path;
        PathRegex = PathType == PathMatchType.RegularExpression ? RouteConditions.Anchored(options.Path) : null;
        PathRegexPrefix = PathType == PathMatchType.RegularExpression ? RegexPrefix.Literal(options.Path) : "";
        Conditions = new RouteConditions(options);

        var backends = options.Backends.Count > 0
            ? [.. options.Backends.Select(static b => (b.Cluster, b.Weight))]
            : options.Cluster is { } single ? new[] { (single, 1) } : [];
        _clusters = [.. backends.Select(b => clusters[b.Item1])];
        _cumulativeWeights = new int[backends.Length];
        var total = 0;
        for (var i = 0; i < backends.Length; i++)
        {
            total += backends[i].Item2;
            _cumulativeWeights[i] = total;
        }

        Action = options.Redirect is not null ? RouteAction.Redirect
            : options.DirectResponse is not null ? RouteAction.DirectResponse
            : RouteAction.Forward;
        if (options.Rewrite is { } rewrite)
        {
            RewriteHost = rewrite.Hostname;
            RewritePath = PathReplacement.Create(rewrite.ReplaceFullPath, rewrite.ReplacePrefixMatch);
        }

        if (options.Redirect is { } redirect)
        {
            Redirect = new RouteRedirect(redirect, PathReplacement.Create(redirect.ReplaceFullPath, redirect.ReplacePrefixMatch));
        }

        if (options.DirectResponse is { } direct)
        {
            DirectStatus = direct.StatusCode;
            DirectBody = Encoding.UTF8.GetBytes(direct.Body ?? "");
            DirectContentType = direct.ContentType;
        }

        RequestHeaders = HeaderModifier.Create(options.RequestHeaders);
        ResponseHeaders = HeaderModifier.Create(options.ResponseHeaders);
        RequestTimeout = options.Timeouts?.Request;
        ResponseHeaderTimeout = options.Timeouts?.ResponseHeader;
        Retry = options.Retry is { } retry ? RetryPolicy.FromOptions(retry) : null;
        AccessLogSampleRate = options.AccessLogSampleRate;
        EndpointPolicies = RouteEndpointPolicies.From(options);
    }

    public string Name { get; }

    /// <summary>What the route answered, shared by the routes of one name and kept across reloads (see <see cref="ProxyConfigSnapshot"/>).</summary>
    public RouteCounters Counters { get; internal set; } = new();

    /// <summary>The route's position in configuration: the last tie-breaker of precedence.</summary>
    public int Index { get; }

    public string[] Hosts { get; }

    /// <summary>The path as matched: a prefix without its trailing <c>/</c>, an exact path, or the expression's text.</summary>
    public string Path { get; }

    public PathMatchType PathType { get; }

    public Regex? PathRegex { get; }

    /// <summary>What every path <see cref="PathRegex"/> matches starts with (see <see cref="RegexPrefix"/>); may be empty.</summary>
    public string PathRegexPrefix { get; }

    public RouteConditions Conditions { get; }

    public RouteAction Action { get; }

    /// <summary>The clusters requests may go to (one unless the route splits).</summary>
    public IReadOnlyList<ProxyCluster> Clusters => _clusters;

    public string? RewriteHost { get; }

    /// <summary>The proxy's <see cref="ProxyOptions.TrustForwardedHeaders"/>, carried by each route of a configuration.</summary>
    public bool TrustForwardedHeaders { get; init; }

    public PathReplacement? RewritePath { get; }

    public RouteRedirect? Redirect { get; }

    public int DirectStatus { get; }

    public byte[] DirectBody { get; } = [];

    public string DirectContentType { get; } = "";

    public HeaderModifier? RequestHeaders { get; }

    public HeaderModifier? ResponseHeaders { get; }

    public TimeSpan? RequestTimeout { get; }

    public TimeSpan? ResponseHeaderTimeout { get; }

    /// <summary>The route's retry policy; null uses the cluster's default.</summary>
    public RetryPolicy? Retry { get; }

    public double? AccessLogSampleRate { get; }

    /// <summary>The ASP.NET Core policies the application enforces before the proxy takes the route's requests; null for none.</summary>
    public RouteEndpointPolicies? EndpointPolicies { get; }

    /// <summary>
    /// The cluster for this request: the only one, or a weighted choice. When the first backend's cluster hashes
    /// requests on a key, the choice hashes the same key, so a user stays on one side of a canary; otherwise it is random.
    /// </summary>
    public ProxyCluster ChooseCluster(HttpContext context)
    {
        if (_clusters.Length == 1)
        {
            return _clusters[0];
        }

        var total = _cumulativeWeights[^1];
        var key = _clusters[0].HashKey.GetContext(context);
        var point = key.HasHash
            ? (int)((Mix(key.Hash) >> 33) % (ulong)total)
            : Random.Shared.Next(total);
        for (var i = 0; i < _cumulativeWeights.Length; i++)
        {
            if (point < _cumulativeWeights[i])
            {
                return _clusters[i];
            }
        }

        return _clusters[^1];
    }

    // The request key also places the request on a hash ring; mixing it first keeps the split independent of that.
    private static ulong Mix(ulong hash)
    {
        hash ^= hash >> 31;
        hash *= 0x7FB5D329728EA185UL;
        hash ^= hash >> 27;
        hash *= 0x81DADEF4BC2DD44DUL;
        return hash ^ (hash >> 33);
    }
}
