using LoadBalancing.Hashing;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Clusters;

/// <summary>Makes the request key of hash-based algorithms from the request, without allocating.</summary>
internal sealed class HashKeyPolicy(HashKeyOptions options)
{
    private readonly HashKeySource _source = options.Source;
    private readonly string _name = options.Name ?? "";

    /// <summary>The pick context; without the key, <see cref="PickContext.None"/> (hash algorithms then pick at random).</summary>
    public PickContext GetContext(HttpContext context) => _source switch
    {
        HashKeySource.Header => HttpRequestKeys.FromHeader(context.Request, _name),
        HashKeySource.Cookie => HttpRequestKeys.FromCookie(context.Request, _name),
        HashKeySource.ClientIp => HttpRequestKeys.FromClientIp(context.Connection),
        HashKeySource.Path => HttpRequestKeys.FromPath(context.Request),
        HashKeySource.QueryParameter => HttpRequestKeys.FromQuery(context.Request, _name),
        _ => PickContext.None,
    };
}
