using System.Globalization;
using Microsoft.AspNetCore.Http;
using HeaderNames = Microsoft.Net.Http.Headers.HeaderNames;

namespace LoadBalancing.Proxy.Clusters;

/// <summary>
/// A cluster's affinity cookie: reads the endpoint a request's session names, and names the endpoint that answered
/// in the response when that is another one. The value is the endpoint's <see cref="BackendEndpoint.AffinityKey"/> as
/// 16 hexadecimal digits, so every replica reads every other's cookies and an address never reaches the client.
/// </summary>
internal sealed class SessionCookie
{
    private const int ValueLength = 16;

    private readonly string _name;
    private readonly string _attributes;
    private readonly string _secureAttributes;
    private readonly CookieSecurePolicy _secure;

    private SessionCookie(SessionAffinityOptions options)
    {
        _name = options.CookieName;
        _secure = options.Secure;
        var attributes = new System.Text.StringBuilder();
        attributes.Append("; path=").Append(options.Path);
        if (options.Domain is { } domain)
        {
            attributes.Append("; domain=").Append(domain);
        }

        if (options.MaxAge is { } maxAge)
        {
            attributes.Append("; max-age=").Append(((long)maxAge.TotalSeconds).ToString(CultureInfo.InvariantCulture));
        }

        var tail = (options.SameSite switch
        {
            SameSiteMode.Strict => "; samesite=strict",
            SameSiteMode.Lax => "; samesite=lax",
            SameSiteMode.None => "; samesite=none",
            _ => "",
        }) + (options.HttpOnly ? "; httponly" : "");
        _attributes = attributes + tail;
        _secureAttributes = attributes + "; secure" + tail;
    }

    /// <summary>The cookie of a cluster's options; null when affinity is off.</summary>
    public static SessionCookie? For(SessionAffinityOptions? options) => options is { Enabled: true } ? new(options) : null;

    /// <summary>The affinity key the request's cookie carries; null when it has none or its value is not one of ours.</summary>
    public ulong? Read(HttpRequest request)
    {
        foreach (var header in request.Headers.Cookie)
        {
            if (header is not null && RequestKey.TryGetCookie(header, _name, out var value))
            {
                return value.Length == ValueLength && ulong.TryParse(value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var key)
                    ? key
                    : null;
            }
        }

        return null;
    }

    /// <summary>
    /// Adds the cookie to the response when the endpoint that answered is not the one the request named (or it named
    /// none). A fallback answer names nothing: the session keeps its endpoint for when it is back.
    /// </summary>
    public void IssueIfMoved(HttpContext context, in PickResult pick, ulong? requested)
    {
        if (pick.Status != PickStatus.Picked || pick.Endpoint!.AffinityKey == requested)
        {
            return;
        }

        var secure = _secure == CookieSecurePolicy.Always || (_secure == CookieSecurePolicy.SameAsRequest && context.Request.IsHttps);
        context.Response.Headers.Append(
            HeaderNames.SetCookie,
            string.Concat(_name, "=", pick.Endpoint.AffinityKey.ToString("x16", CultureInfo.InvariantCulture), secure ? _secureAttributes : _attributes));
    }
}
