using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Routing;

/// <summary>
/// Finds the route for a request, with Gateway API's precedence: the most specific host (exact, then the longest
/// <c>*.suffix</c>, then any host), falling back to a less specific host when none of its routes match; within a
/// host, an exact path, then regular-expression paths in configuration order, then the longest prefix; among routes
/// with the same path, one with a method condition, then more header conditions, then more query conditions, then
/// the earlier in configuration. Built once per configuration; a look-up costs a few dictionary probes (one per
/// path segment) and allocates nothing. A path expression runs only for paths that start with its literal text
/// (<see cref="RegexPrefix"/>), so a host's expression routes cost little for requests they cannot match.
/// </summary>
internal sealed class RouteTable
{
    private readonly Dictionary<string, PathIndex>.AlternateLookup<ReadOnlySpan<char>> _exactHosts;
    private readonly Dictionary<string, PathIndex>.AlternateLookup<ReadOnlySpan<char>> _suffixHosts; // keyed ".example.com"
    private readonly bool _hasSuffixes;
    private readonly PathIndex? _anyHost;

    public RouteTable(IReadOnlyList<ProxyRoute> routes)
    {
        Routes = routes;
        var exact = new Dictionary<string, List<ProxyRoute>>(StringComparer.OrdinalIgnoreCase);
        var suffixes = new Dictionary<string, List<ProxyRoute>>(StringComparer.OrdinalIgnoreCase);
        var any = new List<ProxyRoute>();
        foreach (var route in routes)
        {
            foreach (var host in route.Hosts.Distinct(StringComparer.OrdinalIgnoreCase))
            {
                if (host == "*")
                {
                    any.Add(route);
                }
                else if (host.StartsWith("*.", StringComparison.Ordinal))
                {
                    Add(suffixes, host[1..], route); // keep the dot: "*.a.com" matches "x.a.com", not "xa.com"
                }
                else
                {
                    Add(exact, host, route);
                }
            }
        }

        _exactHosts = Index(exact);
        _suffixHosts = Index(suffixes);
        _hasSuffixes = suffixes.Count > 0;
        _anyHost = any.Count > 0 ? new PathIndex(any) : null;
    }

    public IReadOnlyList<ProxyRoute> Routes { get; }

    /// <summary>Finds the route for a request by its Host header (or :authority), path and conditions.</summary>
    public ProxyRoute? Match(HttpRequest request)
    {
        var hostHeader = request.Headers.Host;
        var host = Hostname(hostHeader.Count > 0 ? hostHeader[0] : "");
        var path = (request.Path.Value ?? "/").AsSpan();
        if (_exactHosts.TryGetValue(host, out var paths) && paths.Match(path, request) is { } exact)
        {
            return exact;
        }

        if (_hasSuffixes)
        {
            // The leftmost dot gives the longest suffix; a suffix needs at least one label before it.
            for (var dot = host.IndexOf('.'); dot > 0; dot = NextDot(host, dot))
            {
                if (_suffixHosts.TryGetValue(host[dot..], out var suffixPaths) && suffixPaths.Match(path, request) is { } matched)
                {
                    return matched;
                }
            }
        }

        return _anyHost?.Match(path, request);
    }

    private static int NextDot(ReadOnlySpan<char> host, int dot)
    {
        var next = host[(dot + 1)..].IndexOf('.');
        return next < 0 ? -1 : dot + 1 + next;
    }

    /// <summary>The host without its port or a trailing dot ("example.com." is "example.com").</summary>
    private static ReadOnlySpan<char> Hostname(ReadOnlySpan<char> host)
    {
        if (host.Length > 0 && host[0] == '[')
        {
            var close = host.IndexOf(']');
            host = close < 0 ? host : host[..(close + 1)];
        }
        else
        {
            var colon = host.LastIndexOf(':');
            host = colon < 0 ? host : host[..colon];
        }

        return host.Length > 0 && host[^1] == '.' ? host[..^1] : host;
    }

    private static void Add(Dictionary<string, List<ProxyRoute>> map, string host, ProxyRoute route)
    {
        if (!map.TryGetValue(host, out var list))
        {
            map[host] = list = [];
        }

        list.Add(route);
    }

    private static Dictionary<string, PathIndex>.AlternateLookup<ReadOnlySpan<char>> Index(Dictionary<string, List<ProxyRoute>> byHost) =>
        byHost.ToDictionary(p => p.Key, p => new PathIndex(p.Value), StringComparer.OrdinalIgnoreCase).GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>The routes of one host pattern, indexed by path.</summary>
    private sealed class PathIndex
    {
        private readonly Dictionary<string, ProxyRoute[]>.AlternateLookup<ReadOnlySpan<char>> _exact;
        private readonly ProxyRoute[] _regex;
        private readonly Dictionary<string, ProxyRoute[]>.AlternateLookup<ReadOnlySpan<char>> _prefix;
        private readonly bool _hasExact;
        private readonly bool _hasPrefix;

        public PathIndex(List<ProxyRoute> routes)
        {
            _exact = ByPath(routes, PathMatchType.Exact);
            _prefix = ByPath(routes, PathMatchType.Prefix);
            _hasExact = _exact.Dictionary.Count > 0;
            _hasPrefix = _prefix.Dictionary.Count > 0;
            _regex = [.. routes.Where(static r => r.PathType == PathMatchType.RegularExpression).OrderBy(static r => r.Index)];
        }

        public ProxyRoute? Match(ReadOnlySpan<char> path, HttpRequest request)
        {
            if (_hasExact && _exact.TryGetValue(path, out var exact) && First(exact, request) is { } e)
            {
                return e;
            }

            foreach (var route in _regex)
            {
                if (path.StartsWith(route.PathRegexPrefix, StringComparison.Ordinal)
                    && RouteConditions.IsFullMatch(route.PathRegex!, path)
                    && route.Conditions.Matches(request))
                {
                    return route;
                }
            }

            if (_hasPrefix)
            {
                var candidate = PathPrefix.First(path);
                do
                {
                    if (_prefix.TryGetValue(candidate, out var routes) && First(routes, request) is { } p)
                    {
                        return p;
                    }
                }
                while (PathPrefix.TryShorten(ref candidate));
            }

            return null;
        }

        private static ProxyRoute? First(ProxyRoute[] routes, HttpRequest request)
        {
            foreach (var route in routes)
            {
                if (route.Conditions.IsEmpty || route.Conditions.Matches(request))
                {
                    return route;
                }
            }

            return null;
        }

        private static Dictionary<string, ProxyRoute[]>.AlternateLookup<ReadOnlySpan<char>> ByPath(List<ProxyRoute> routes, PathMatchType type) =>
            routes.Where(r => r.PathType == type)
                .GroupBy(static r => r.Path, StringComparer.Ordinal)
                .ToDictionary(
                    static g => g.Key,
                    static g => g.OrderByDescending(static r => r.Conditions.HasMethod)
                        .ThenByDescending(static r => r.Conditions.HeaderCount)
                        .ThenByDescending(static r => r.Conditions.QueryCount)
                        .ThenBy(static r => r.Index)
                        .ToArray(),
                    StringComparer.Ordinal)
                .GetAlternateLookup<ReadOnlySpan<char>>();
    }
}
