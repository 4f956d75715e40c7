namespace LoadBalancing.Proxy.Routing;

/// <summary>Prefix paths, matched a whole segment at a time (Gateway API's PathPrefix).</summary>
internal static class PathPrefix
{
    /// <summary>The form prefixes are kept in: no trailing <c>/</c>, except the root <c>/</c> itself.</summary>
    public static string Normalize(string prefix) => prefix.Length > 1 ? prefix.TrimEnd('/') is { Length: > 0 } trimmed ? trimmed : "/" : prefix;

    /// <summary>Whether <paramref name="path"/> starts with the normalized <paramref name="prefix"/> on a segment boundary.</summary>
    public static bool IsMatch(string prefix, ReadOnlySpan<char> path) =>
        prefix == "/"
            ? path.Length > 0 && path[0] == '/'
            : path.StartsWith(prefix, StringComparison.Ordinal) && (path.Length == prefix.Length || path[prefix.Length] == '/');

    /// <summary>
    /// Shortens <paramref name="candidate"/> by one segment: <c>/a/b</c>, then <c>/a</c>, then <c>/</c>; false
    /// after the root. Start with <see cref="First"/>.
    /// </summary>
    public static bool TryShorten(ref ReadOnlySpan<char> candidate)
    {
        if (candidate.Length <= 1)
        {
            return false;
        }

        var slash = candidate.LastIndexOf('/');
        if (slash < 0)
        {
            return false;
        }

        candidate = slash == 0 ? "/" : candidate[..slash];
        return true;
    }

    /// <summary>The longest candidate prefix of a request path: the path without one trailing <c>/</c>.</summary>
    public static ReadOnlySpan<char> First(ReadOnlySpan<char> path) =>
        path.Length > 1 && path[^1] == '/' ? path[..^1] : path;
}
