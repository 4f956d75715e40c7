using System.Text;
using LoadBalancing.Proxy.Metrics;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>
/// Sets Kestrel's header encodings for a proxy, in front of whatever selectors the application has: requests through
/// <see cref="RequestFieldEncodings"/> (what a fail-closed proxy refuses), responses as Latin-1.
/// </summary>
internal sealed class HeaderEncodingGuard(RequestRejections rejections) : IPostConfigureOptions<KestrelServerOptions>
{
    /// <summary>
    /// Latin-1 that refuses a character it cannot encode instead of sending '?'. Upstream response fields are decoded
    /// as Latin-1, one char per byte, so encoding them back gives the bytes the upstream sent: RFC 9110 §5.5 allows
    /// obs-text (0x80–0xFF) in a field value, and UTF-8 file names in <c>Content-Disposition</c> are common. Without an
    /// encoding Kestrel refuses any value beyond ASCII, which turned a healthy upstream's ordinary answer into a 502.
    /// </summary>
    internal static readonly Encoding StrictLatin1 =
        Encoding.GetEncoding("iso-8859-1", EncoderFallback.ExceptionFallback, DecoderFallback.ExceptionFallback);

    public void PostConfigure(string? name, KestrelServerOptions options)
    {
        options.RequestHeaderEncodingSelector = RequestFieldEncodings.Selector(options.RequestHeaderEncodingSelector, rejections);
        var previous = options.ResponseHeaderEncodingSelector;
        options.ResponseHeaderEncodingSelector = previous is null ? static _ => StrictLatin1 : field => previous(field) ?? StrictLatin1;
    }
}
