namespace LoadBalancing.Proxy.Routing;

/// <summary>
/// A new path for a rewrite or a redirect: the whole path, or the prefix the route matched (Gateway API's
/// ReplaceFullPath and ReplacePrefixMatch). Applied to the percent-encoded path; the query string is kept by the caller.
/// </summary>
internal sealed class PathReplacement
{
    private readonly string _value;

    private PathReplacement(string value, bool replacesPrefix)
    {
        _value = replacesPrefix ? value.TrimEnd('/') : value;
        ReplacesPrefix = replacesPrefix;
    }

    public bool ReplacesPrefix { get; }

    public static PathReplacement? Create(string? replaceFullPath, string? replacePrefixMatch) =>
        replaceFullPath is not null ? new(replaceFullPath, replacesPrefix: false)
        : replacePrefixMatch is not null ? new(replacePrefixMatch, replacesPrefix: true)
        : null;

    /// <summary>
    /// The new path as two parts, written one after the other: <paramref name="head"/> (the replacement) and
    /// <paramref name="rest"/> (what followed the matched prefix). <paramref name="prefix"/> is the route's normalized
    /// prefix, which <paramref name="path"/> starts with on a segment boundary.
    /// </summary>
    public void Apply(ReadOnlySpan<char> path, string prefix, out ReadOnlySpan<char> head, out ReadOnlySpan<char> rest)
    {
        if (!ReplacesPrefix)
        {
            head = _value;
            rest = default;
            return;
        }

        rest = prefix == "/" ? (path.Length == 1 ? default : path)
            : PathPrefix.IsMatch(prefix, path) ? path[prefix.Length..]
            : path; // not reached through a match; kept whole rather than cut blindly
        head = _value;
        if (head.IsEmpty && rest.IsEmpty)
        {
            head = "/";
        }
    }

    /// <summary>The new path as one string (for a redirect's Location).</summary>
    public string Apply(ReadOnlySpan<char> path, string prefix)
    {
        Apply(path, prefix, out var head, out var rest);
        return string.Concat(head, rest);
    }
}
