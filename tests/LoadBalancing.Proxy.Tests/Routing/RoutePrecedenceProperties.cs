using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LoadBalancing.Proxy.Routing;

namespace LoadBalancing.Proxy.Tests.Routing;

/// <summary>
/// Invariants of <see cref="RouteTable"/> checked against brute-force oracles written from the documented rules,
/// over random route sets and paths drawn from a small alphabet (so prefixes and paths collide often, empty
/// segments and trailing slashes included).
/// </summary>
public sealed class RoutePrecedenceProperties
{
    private static readonly Gen<string> Segment = Gen.Elements("a", "b", "ab", "");

    private static Gen<string> PathOf(int minSegments, int maxSegments) =>
        from count in Gen.Choose(minSegments, maxSegments)
        from segments in Gen.ArrayOf(Segment, count)
        from trailingSlash in Gen.Elements(false, false, true)
        select "/" + string.Join("/", segments) + (trailingSlash && count > 0 ? "/" : "");

    private static readonly Arbitrary<(string[] Prefixes, string[] Paths)> PrefixCase =
        (from count in Gen.Choose(1, 6)
         from prefixes in Gen.ArrayOf(PathOf(0, 3), count)
         from paths in Gen.ArrayOf(PathOf(0, 4), 8)
         select (prefixes, paths)).ToArbitrary();

    [Property(MaxTest = 300)]
    public Property PrefixRoutes_TheLongestSegmentBoundaryPrefixWins_EarliestAmongEquals() =>
        Prop.ForAll(PrefixCase, c =>
        {
            var table = RouteTableTests.Build([.. c.Prefixes.Select((p, i) => ("*", p, "r" + i))]);
            foreach (var path in c.Paths)
            {
                var expected = LongestPrefixOracle(c.Prefixes, path);
                var actual = table.Match(RouteTableTests.Request("any.test", path))?.Name;
                if (expected != actual)
                {
                    return false.Label($"prefixes [{string.Join(", ", c.Prefixes)}], path {path}: expected {expected ?? "none"}, got {actual ?? "none"}");
                }
            }

            return true.ToProperty();
        });

    /// <summary>Each route is one of the three path kinds; a path's winner follows exact, then regex (config order), then longest prefix.</summary>
    private static readonly Arbitrary<((PathMatchType Type, string Path)[] Routes, string[] Paths)> MixedCase =
        (from count in Gen.Choose(1, 6)
         from routes in Gen.ArrayOf(
             from type in Gen.Elements(PathMatchType.Prefix, PathMatchType.Exact, PathMatchType.RegularExpression)
             from path in PathOf(0, 3)
             select (type, type == PathMatchType.RegularExpression ? path + ".*" : path),
             count)
         from paths in Gen.ArrayOf(PathOf(0, 4), 8)
         select (routes, paths)).ToArbitrary();

    [Property(MaxTest = 300)]
    public Property MixedRoutes_ExactThenRegexInOrderThenLongestPrefix() =>
        Prop.ForAll(MixedCase, c =>
        {
            var table = new RouteTable([.. c.Routes.Select((r, i) => new ProxyRoute(
                new ProxyRouteOptions { Name = "r" + i, Path = r.Path, PathType = r.Type, DirectResponse = new DirectResponseOptions() },
                i,
                new Dictionary<string, Clusters.ProxyCluster>()))]);
            foreach (var path in c.Paths)
            {
                var expected = MixedOracle(c.Routes, path);
                var actual = table.Match(RouteTableTests.Request("any.test", path))?.Name;
                if (expected != actual)
                {
                    return false.Label($"routes [{string.Join(", ", c.Routes.Select(r => $"{r.Type}:{r.Path}"))}], path {path}: expected {expected ?? "none"}, got {actual ?? "none"}");
                }
            }

            return true.ToProperty();
        });

    [Property(MaxTest = 200)]
    public Property Hosts_MostSpecificHostWithAMatchingRouteWins() =>
        Prop.ForAll(HostCase, c =>
        {
            var table = RouteTableTests.Build([.. c.Routes.Select((r, i) => (r.Host, r.Path, "r" + i))]);
            foreach (var (host, path) in c.Requests)
            {
                var expected = HostOracle(c.Routes, host, path);
                var actual = table.Match(RouteTableTests.Request(host, path))?.Name;
                if (expected != actual)
                {
                    return false.Label($"routes [{string.Join(", ", c.Routes.Select(r => r.Host + r.Path))}], request {host}{path}: expected {expected ?? "none"}, got {actual ?? "none"}");
                }
            }

            return true.ToProperty();
        });

    private static readonly Gen<string> Label = Gen.Elements("a", "b", "x");

    private static Gen<string> HostName(int min) =>
        from count in Gen.Choose(min, 3)
        from labels in Gen.ArrayOf(Label, count)
        select string.Join(".", labels);

    private static readonly Arbitrary<((string Host, string Path)[] Routes, (string Host, string Path)[] Requests)> HostCase =
        (from count in Gen.Choose(1, 6)
         from routes in Gen.ArrayOf(
             from kind in Gen.Choose(0, 2)
             from name in HostName(1)
             from path in Gen.Elements("/", "/a", "/b")
             select (kind == 0 ? "*" : kind == 1 ? "*." + name : name, path),
             count)
         from requests in Gen.ArrayOf(
             from host in HostName(1)
             from path in Gen.Elements("/", "/a", "/a/b", "/b")
             select (host, path),
             8)
         select (routes, requests)).ToArbitrary();

    private static string Normalize(string prefix)
    {
        var trimmed = prefix.TrimEnd('/');
        return trimmed.Length == 0 ? "/" : trimmed;
    }

    private static bool PrefixMatches(string prefix, string path)
    {
        var n = Normalize(prefix);
        return n == "/" ? path.StartsWith('/') : path == n || path.StartsWith(n + "/", StringComparison.Ordinal);
    }

    /// <summary>The longest matching normalized prefix; among equal ones, the first configured.</summary>
    private static string? LongestPrefixOracle(string[] prefixes, string path) =>
        prefixes.Select((p, i) => (Prefix: Normalize(p), Index: i))
            .Where(p => PrefixMatches(p.Prefix, path))
            .OrderByDescending(p => p.Prefix == "/" ? 0 : p.Prefix.Length)
            .ThenBy(p => p.Index)
            .Select(p => "r" + p.Index)
            .FirstOrDefault();

    private static string? MixedOracle((PathMatchType Type, string Path)[] routes, string path)
    {
        for (var i = 0; i < routes.Length; i++)
        {
            if (routes[i].Type == PathMatchType.Exact && routes[i].Path == path)
            {
                return "r" + i;
            }
        }

        for (var i = 0; i < routes.Length; i++)
        {
            // Written without a regex engine: every generated pattern is a literal (no metacharacters but '.') then ".*".
            if (routes[i].Type == PathMatchType.RegularExpression && LiteralThenAnything(routes[i].Path[..^2], path))
            {
                return "r" + i;
            }
        }

        return LongestPrefixOracle([.. routes.Select(r => r.Type == PathMatchType.Prefix ? r.Path : "\0")], path) is { } prefix
            && routes[int.Parse(prefix[1..], System.Globalization.CultureInfo.InvariantCulture)].Type == PathMatchType.Prefix
            ? prefix
            : null;
    }

    // The generated literals use only '/', 'a' and 'b': no character a regular expression treats specially.
    private static bool LiteralThenAnything(string literal, string path) => path.StartsWith(literal, StringComparison.Ordinal);

    /// <summary>Exact host, then suffixes longest first, then any host; a host with no matching path defers to the next.</summary>
    private static string? HostOracle((string Host, string Path)[] routes, string host, string path)
    {
        var groups = new List<Func<string, bool>> { h => string.Equals(h, host, StringComparison.OrdinalIgnoreCase) };
        var labels = host.Split('.');
        for (var i = 1; i < labels.Length; i++)
        {
            var suffix = "*." + string.Join(".", labels[i..]);
            groups.Add(h => string.Equals(h, suffix, StringComparison.OrdinalIgnoreCase));
        }

        groups.Add(h => h == "*");
        foreach (var group in groups)
        {
            var candidates = routes.Select((r, i) => (r, i)).Where(x => group(x.r.Host)).ToArray();
            var prefixes = candidates.Select(x => x.r.Path).ToArray();
            if (LongestPrefixOracle(prefixes, path) is { } winner)
            {
                return "r" + candidates[int.Parse(winner[1..], System.Globalization.CultureInfo.InvariantCulture)].i;
            }
        }

        return null;
    }
}
