using LoadBalancing.Proxy.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

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

    public static string Message(RequestRejection reason) => reason switch
    {
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

        var upgrade = context.Request.Headers.Upgrade;
        return upgrade.Count == 1 && string.Equals(upgrade[0], "websocket", StringComparison.OrdinalIgnoreCase);
    }
}
