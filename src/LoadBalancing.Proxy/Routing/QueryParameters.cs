namespace LoadBalancing.Proxy.Routing;

/// <summary>Reads a raw (still percent-encoded) query string without allocating.</summary>
internal static class QueryParameters
{
    /// <summary>
    /// Finds the first parameter called <paramref name="name"/> (names compare as sent, case-sensitively); a
    /// parameter without <c>=</c> is present with an empty value.
    /// </summary>
    public static bool TryFind(ReadOnlySpan<char> query, ReadOnlySpan<char> name, out ReadOnlySpan<char> value)
    {
        if (!query.IsEmpty && query[0] == '?')
        {
            query = query[1..];
        }

        foreach (var range in query.Split('&'))
        {
            var pair = query[range];
            if (!pair.StartsWith(name, StringComparison.Ordinal))
            {
                continue;
            }

            if (pair.Length == name.Length)
            {
                value = default;
                return true;
            }

            if (pair[name.Length] == '=')
            {
                value = pair[(name.Length + 1)..];
                return true;
            }
        }

        value = default;
        return false;
    }
}
