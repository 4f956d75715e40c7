namespace LoadBalancing.Proxy.Kubernetes.Gateway;

/// <summary>
/// Hostname intersection between a listener and a route, as Gateway API defines it: <c>*.example.com</c> matches
/// any number of labels before <c>.example.com</c> (not <c>example.com</c> itself), on either side; the more
/// specific name of a matching pair is what requests must carry.
/// </summary>
internal static class GatewayHostnames
{
    /// <summary>
    /// The hosts requests must match for a route on a listener: empty for any host; null when they share none
    /// (the route does not attach there).
    /// </summary>
    public static List<string>? Intersect(string? listener, IReadOnlyList<string> route)
    {
        listener = string.IsNullOrEmpty(listener) ? null : listener.ToLowerInvariant();
        if (route.Count == 0)
        {
            return listener is null ? [] : [listener];
        }

        var hosts = new List<string>();
        foreach (var raw in route)
        {
            var host = raw.ToLowerInvariant();
            var match = listener is null ? host
                : Covers(listener, host) ? host
                : Covers(host, listener) ? listener
                : null;
            if (match is not null && !hosts.Contains(match, StringComparer.Ordinal))
            {
                hosts.Add(match);
            }
        }

        return hosts.Count == 0 ? null : hosts;
    }

    /// <summary>Whether every host <paramref name="specific"/> matches is also matched by <paramref name="pattern"/>.</summary>
    private static bool Covers(string pattern, string specific)
    {
        if (string.Equals(pattern, specific, StringComparison.Ordinal))
        {
            return true;
        }

        if (!pattern.StartsWith("*.", StringComparison.Ordinal))
        {
            return false;
        }

        // "*.example.com" covers "a.example.com" and "*.a.example.com"; the suffix keeps its dot so "badexample.com" is out.
        var suffix = pattern[1..];
        var rest = specific.StartsWith("*.", StringComparison.Ordinal) ? specific[1..] : specific;
        return rest.Length > suffix.Length && rest.EndsWith(suffix, StringComparison.Ordinal);
    }
}
