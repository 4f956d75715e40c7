namespace LoadBalancing.Proxy.Routing;

/// <summary>
/// Host (exact, then the longest <c>*.suffix</c>, then <c>*</c>) and path prefix (longest whole-segment match)
/// to a target. Built once from configuration; look-ups are allocation-free.
/// </summary>
internal sealed class RouteTable<T>
    where T : class
{
    private readonly Dictionary<string, PathTable>.AlternateLookup<ReadOnlySpan<char>> _exact;
    private readonly (string Suffix, PathTable Paths)[] _suffixes; // longest suffix first
    private readonly PathTable? _any;

    public RouteTable(IEnumerable<(string Host, string Path, T Target)> routes)
    {
        var exact = new Dictionary<string, List<(string, T)>>(StringComparer.OrdinalIgnoreCase);
        var suffixes = new Dictionary<string, List<(string, T)>>(StringComparer.OrdinalIgnoreCase);
        var any = new List<(string, T)>();
        foreach (var (host, path, target) in routes)
        {
            if (host == "*")
            {
                any.Add((path, target));
            }
            else if (host.StartsWith("*.", StringComparison.Ordinal))
            {
                Add(suffixes, host[1..], path, target); // keep the dot: "*.a.com" matches "x.a.com", not "xa.com"
            }
            else
            {
                Add(exact, host, path, target);
            }
        }

        _exact = exact.ToDictionary(p => p.Key, p => new PathTable(p.Value), StringComparer.OrdinalIgnoreCase)
            .GetAlternateLookup<ReadOnlySpan<char>>();
        _suffixes = suffixes
            .Select(p => (p.Key, new PathTable(p.Value)))
            .OrderByDescending(p => p.Key.Length)
            .ToArray();
        _any = any.Count > 0 ? new PathTable(any) : null;
    }

    /// <summary>Finds the target for a request.</summary>
    /// <param name="host">The Host header (or :authority), with or without a port.</param>
    /// <param name="path">The request path, starting with '/'.</param>
    /// <returns>The target, or null when no route matches.</returns>
    public T? Match(ReadOnlySpan<char> host, ReadOnlySpan<char> path)
    {
        host = StripPort(host);
        if (host.Length > 0 && host[^1] == '.')
        {
            host = host[..^1]; // "example.com." is "example.com"
        }

        if (_exact.TryGetValue(host, out var paths) && paths.Match(path) is { } exact)
        {
            return exact;
        }

        foreach (var (suffix, suffixPaths) in _suffixes)
        {
            if (host.Length > suffix.Length
                && host.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && suffixPaths.Match(path) is { } matched)
            {
                return matched;
            }
        }

        return _any?.Match(path);
    }

    private static void Add(Dictionary<string, List<(string, T)>> map, string host, string path, T target)
    {
        if (!map.TryGetValue(host, out var list))
        {
            map[host] = list = [];
        }

        list.Add((path, target));
    }

    private static ReadOnlySpan<char> StripPort(ReadOnlySpan<char> host)
    {
        if (host.Length > 0 && host[0] == '[')
        {
            var close = host.IndexOf(']');
            return close < 0 ? host : host[..(close + 1)];
        }

        var colon = host.LastIndexOf(':');
        return colon < 0 ? host : host[..colon];
    }

    /// <summary>Path prefixes of one host pattern, longest first.</summary>
    private sealed class PathTable
    {
        private readonly (string Prefix, T Target)[] _prefixes;

        public PathTable(List<(string Prefix, T Target)> prefixes) =>
            _prefixes = prefixes.OrderByDescending(p => p.Prefix.Length).ToArray();

        public T? Match(ReadOnlySpan<char> path)
        {
            foreach (var (prefix, target) in _prefixes)
            {
                if (IsPrefix(prefix, path))
                {
                    return target;
                }
            }

            return null;
        }

        private static bool IsPrefix(string prefix, ReadOnlySpan<char> path)
        {
            if (!path.StartsWith(prefix, StringComparison.Ordinal))
            {
                return false;
            }

            // Whole segments only: "/api" matches "/api" and "/api/x", never "/apis".
            return path.Length == prefix.Length || prefix[^1] == '/' || path[prefix.Length] == '/';
        }
    }
}
