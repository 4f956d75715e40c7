using LoadBalancing.Proxy.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>
/// Request framing Kestrel accepts but a fail-closed proxy must not: each shape below is read one way by Kestrel
/// and may be read another way by the hop in front of the proxy, which is how requests get smuggled. Checked
/// before routing, so a refused request reaches no upstream. Content-Length's own syntax is checked earlier, while
/// Kestrel decodes it (<see cref="RequestFieldEncodings"/>).
/// </summary>
internal static class RequestFramingRules
{
    /// <summary>Whether <paramref name="request"/> must be refused with 400, and why.</summary>
    public static bool ShouldReject(HttpRequest request, out RequestRejection reason)
    {
        if (HasFragment(request))
        {
            reason = RequestRejection.Fragment;
            return true;
        }

        // Kestrel requires the field in HTTP/1.1 but takes it empty, which no http(s) target allows (RFC 9110 §4.2.1
        // says to reject it; nginx does): there is no host to route by or to preserve upstream. The raw field, not
        // request.Host, which parses it into a HostString first.
        if (StringValues.IsNullOrEmpty(request.Headers.Host) && HttpProtocol.IsHttp11(request.Protocol))
        {
            reason = RequestRejection.EmptyHost;
            return true;
        }

        var transferEncoding = request.Headers.TransferEncoding;
        if (transferEncoding.Count == 0)
        {
            reason = default;
            return false;
        }

        // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing (Kestrel reads it as chunked).
        if (HttpProtocol.IsHttp10(request.Protocol))
        {
            reason = RequestRejection.Http10TransferEncoding;
            return true;
        }

        // Kestrel keeps a Content-Length sent next to Transfer-Encoding as X-Content-Length. RFC 9112 §6.3 lets a
        // server refuse such a request; a hop in front that framed it by Content-Length sees other requests than we do.
        if (request.Headers.ContainsKey("X-Content-Length"))
        {
            reason = RequestRejection.ContentLengthAndTransferEncoding;
            return true;
        }

        // Kestrel accepts any list whose last coding is chunked ("gzip, chunked", "chunked, chunked", ",chunked",
        // two field lines); a request body with a coding the proxy would strip, or chunked twice, is not one it can
        // forward faithfully.
        if (transferEncoding.Count != 1 || !string.Equals(transferEncoding[0], "chunked", StringComparison.OrdinalIgnoreCase))
        {
            reason = RequestRejection.TransferEncoding;
            return true;
        }

        reason = default;
        return false;
    }

    /// <summary>
    /// Whether the target has a fragment. Kestrel passes <c>/admin#x</c> through as the path <c>/admin#x</c>, which no
    /// route for <c>/admin</c> matches, while most upstreams cut the fragment off and serve <c>/admin</c>: the proxy
    /// would route one path and the upstream serve another, past any route that guards it. The query is raw, so a
    /// <c>#</c> there was sent as one; the path is decoded, so a <c>#</c> there may have been sent as <c>%23</c>, which is
    /// data, and the raw target tells.
    /// </summary>
    private static bool HasFragment(HttpRequest request)
    {
        if (request.QueryString.Value is { } query && query.Contains('#', StringComparison.Ordinal))
        {
            return true;
        }

        return request.Path.Value is { } path && path.Contains('#', StringComparison.Ordinal)
            && request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget is { } raw && raw.Contains('#', StringComparison.Ordinal);
    }

    public static string Message(RequestRejection reason) => reason switch
    {
        RequestRejection.Fragment => "the request target has a fragment ('#'), which requests never carry",
        RequestRejection.EmptyHost => "the request's Host is empty",
        RequestRejection.Http10TransferEncoding => "an HTTP/1.0 request cannot use Transfer-Encoding",
        RequestRejection.ContentLengthAndTransferEncoding => "the request has both Content-Length and Transfer-Encoding",
        RequestRejection.TransferEncoding => "the request's Transfer-Encoding is not exactly 'chunked'",
        _ => "the request's Content-Length is not a plain decimal number",
    };

    /// <summary>
    /// Whether the request may become a byte tunnel: a WebSocket upgrade (RFC 6455), nothing else. Any other
    /// Upgrade (h2c above all, whose tunnel would carry requests no route ever saw) is forwarded as a plain request.
    /// </summary>
    public static bool IsWebSocketUpgrade(HttpContext context)
    {
        if (context.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest != true)
        {
            return false;
        }

        return IsWebSocketAlone(context.Request.Headers.Upgrade);
    }

    /// <summary>
    /// Whether an upstream's 101 switches to the WebSocket protocol the request asked for (RFC 9110 §7.8: a server
    /// switches only to a protocol the client listed; §15.2.2: a 101 says which). Anything else would make the
    /// connection a tunnel for a protocol nobody vetted: h2c above all.
    /// </summary>
    public static bool SwitchesToWebSocket(IHeaderDictionary responseHeaders) => IsWebSocketAlone(responseHeaders.Upgrade);

    private static bool IsWebSocketAlone(StringValues upgrade) =>
        upgrade.Count == 1 && string.Equals(upgrade[0]?.Trim(), "websocket", StringComparison.OrdinalIgnoreCase);
}
