using Microsoft.AspNetCore.Http;

// Compiled into LoadBalancing.Proxy and LoadBalancing.Yarp (each keeps its own internal copy): the two packages must
// not reference each other, and the core package, which owns RequestKey, does not reference ASP.NET Core.
namespace LoadBalancing.Hashing;

/// <summary>
/// Reads a request's hash key from an ASP.NET Core request, without allocating. Each method answers
/// <see cref="PickContext.None"/> when the request has no such key (hash algorithms then pick at random).
/// </summary>
internal static class HttpRequestKeys
{
    /// <summary>The first value of a header; an empty one counts as absent.</summary>
    public static PickContext FromHeader(HttpRequest request, string name)
    {
        var values = request.Headers[name];
        return values.Count > 0 && !string.IsNullOrEmpty(values[0])
            ? PickContext.ForHash(RequestKey.FromString(values[0]))
            : PickContext.None;
    }

    /// <summary>The first cookie of that name, over all Cookie headers.</summary>
    public static PickContext FromCookie(HttpRequest request, string name)
    {
        foreach (var header in request.Headers.Cookie)
        {
            if (header is not null && RequestKey.TryFromCookie(header, name, out var key))
            {
                return PickContext.ForHash(key);
            }
        }

        return PickContext.None;
    }

    /// <summary>A query parameter's value as sent (still percent-encoded); an empty one counts as absent.</summary>
    public static PickContext FromQuery(HttpRequest request, string name) =>
        TryFindQueryValue(request.QueryString.Value, name, out var value)
            ? PickContext.ForHash(RequestKey.FromString(value))
            : PickContext.None;

    /// <summary>The path; every request has one.</summary>
    public static PickContext FromPath(HttpRequest request) =>
        PickContext.ForHash(RequestKey.FromString(request.Path.Value ?? "/"));

    /// <summary>
    /// The client's address. An IPv4 client on a dual-stack socket arrives IPv4-mapped: it is hashed as the IPv4
    /// address, so that it keeps its backend whichever socket it came in on.
    /// </summary>
    public static PickContext FromClientIp(ConnectionInfo connection) =>
        connection.RemoteIpAddress is { } ip
            ? PickContext.ForHash(RequestKey.FromAddress(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip))
            : PickContext.None;

    /// <summary>Finds <c>name=value</c> in a raw query string; the value is hashed as sent (still percent-encoded).</summary>
    internal static bool TryFindQueryValue(ReadOnlySpan<char> query, ReadOnlySpan<char> name, out ReadOnlySpan<char> value)
    {
        if (!query.IsEmpty && query[0] == '?')
        {
            query = query[1..];
        }

        foreach (var range in query.Split('&'))
        {
            var pair = query[range];
            if (pair.Length > name.Length && pair[name.Length] == '=' && pair.StartsWith(name, StringComparison.Ordinal))
            {
                value = pair[(name.Length + 1)..];
                return !value.IsEmpty;
            }
        }

        value = default;
        return false;
    }
}
