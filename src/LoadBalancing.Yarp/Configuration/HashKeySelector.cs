using System.Globalization;
using LoadBalancing.Hashing;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Yarp.Configuration;

/// <summary>Where a request's hash key comes from.</summary>
internal enum HashKeySource
{
    None,
    Header,
    Cookie,
    Query,
    Route,
    Path,
    ClientIp,
}

/// <summary>
/// Makes the pick context of hash policies from the request, as the cluster metadata
/// <see cref="LoadBalancingMetadataKeys.HashKey"/> says; allocation-free for string values.
/// </summary>
internal sealed class HashKeySelector
{
    internal const string Forms = "header:NAME, cookie:NAME, query:NAME, route:NAME, path or client-ip";

    public static readonly HashKeySelector None = new(HashKeySource.None, "");

    private HashKeySelector(HashKeySource source, string name)
    {
        Source = source;
        Name = name;
    }

    public HashKeySource Source { get; }

    public string Name { get; }

    /// <summary>Parses a metadata value; the error names the cluster, the key and the value.</summary>
    public static bool TryParse(string clusterId, string value, out HashKeySelector selector, out string? error)
    {
        var text = value.AsSpan().Trim();
        if (text.Equals("path", StringComparison.OrdinalIgnoreCase))
        {
            selector = new HashKeySelector(HashKeySource.Path, "");
            error = null;
            return true;
        }

        if (text.Equals("client-ip", StringComparison.OrdinalIgnoreCase))
        {
            selector = new HashKeySelector(HashKeySource.ClientIp, "");
            error = null;
            return true;
        }

        var colon = text.IndexOf(':');
        var kind = colon < 0 ? text : text[..colon].Trim();
        var name = colon < 0 ? default : text[(colon + 1)..].Trim();
        HashKeySource source = kind switch
        {
            _ when kind.Equals("header", StringComparison.OrdinalIgnoreCase) => HashKeySource.Header,
            _ when kind.Equals("cookie", StringComparison.OrdinalIgnoreCase) => HashKeySource.Cookie,
            _ when kind.Equals("query", StringComparison.OrdinalIgnoreCase) => HashKeySource.Query,
            _ when kind.Equals("route", StringComparison.OrdinalIgnoreCase) => HashKeySource.Route,
            _ => HashKeySource.None,
        };

        selector = None;
        if (source == HashKeySource.None)
        {
            error = $"Cluster '{clusterId}': metadata '{LoadBalancingMetadataKeys.HashKey}' is '{value}', which is not a hash key; use one of {Forms}.";
            return false;
        }

        if (name.IsEmpty)
        {
            error = $"Cluster '{clusterId}': metadata '{LoadBalancingMetadataKeys.HashKey}' is '{value}', which names no {kind.ToString().ToLowerInvariant()}; write it as {kind.ToString().ToLowerInvariant()}:NAME.";
            return false;
        }

        selector = new HashKeySelector(source, name.ToString());
        error = null;
        return true;
    }

    /// <summary>The pick context; without the key, <see cref="PickContext.None"/> (hash algorithms then pick at random).</summary>
    public PickContext GetContext(HttpContext context) => Source switch
    {
        HashKeySource.Header => HttpRequestKeys.FromHeader(context.Request, Name),
        HashKeySource.Cookie => HttpRequestKeys.FromCookie(context.Request, Name),
        HashKeySource.Query => HttpRequestKeys.FromQuery(context.Request, Name),
        HashKeySource.Route => FromRouteValue(context.Request, Name),
        HashKeySource.Path => HttpRequestKeys.FromPath(context.Request),
        HashKeySource.ClientIp => HttpRequestKeys.FromClientIp(context.Connection),
        _ => PickContext.None,
    };

    // Not in src/Shared/Hashing: LoadBalancing.Proxy has no route-value key source.
    private static PickContext FromRouteValue(HttpRequest request, string name) =>
        request.RouteValues.TryGetValue(name, out var routeValue) && routeValue is not null
            ? PickContext.ForHash(routeValue is string s ? RequestKey.FromString(s) : RequestKey.FromString(Convert.ToString(routeValue, CultureInfo.InvariantCulture)))
            : PickContext.None;

    /// <inheritdoc />
    public override string ToString() => Source switch
    {
        HashKeySource.Path => "path",
        HashKeySource.ClientIp => "client-ip",
        HashKeySource.None => "none",
        _ => $"{Source.ToString().ToLowerInvariant()}:{Name}",
    };
}
