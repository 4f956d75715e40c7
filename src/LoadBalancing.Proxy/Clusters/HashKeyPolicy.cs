using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Clusters;

/// <summary>Makes the request key of hash-based algorithms from the request, without allocating.</summary>
internal sealed class HashKeyPolicy(HashKeyOptions options)
{
    private readonly HashKeySource _source = options.Source;
    private readonly string _name = options.Name ?? "";

    /// <summary>The pick context; without the key, <see cref="PickContext.None"/> (hash algorithms then pick at random).</summary>
    public PickContext GetContext(HttpContext context)
    {
        switch (_source)
        {
            case HashKeySource.Header:
                {
                    var values = context.Request.Headers[_name];
                    return values.Count > 0 && !string.IsNullOrEmpty(values[0])
                        ? PickContext.ForHash(RequestKey.FromString(values[0]))
                        : PickContext.None;
                }

            case HashKeySource.Cookie:
                foreach (var header in context.Request.Headers.Cookie)
                {
                    if (header is not null && RequestKey.TryFromCookie(header, _name, out var key))
                    {
                        return PickContext.ForHash(key);
                    }
                }

                return PickContext.None;

            case HashKeySource.ClientIp:
                return context.Connection.RemoteIpAddress is { } ip
                    ? PickContext.ForHash(RequestKey.FromAddress(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip))
                    : PickContext.None;

            case HashKeySource.Path:
                return PickContext.ForHash(RequestKey.FromString(context.Request.Path.Value ?? "/"));

            case HashKeySource.QueryParameter:
                return TryFindQueryValue(context.Request.QueryString.Value, _name, out var value)
                    ? PickContext.ForHash(RequestKey.FromString(value))
                    : PickContext.None;

            default:
                return PickContext.None;
        }
    }

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
