using System.Text;
using Microsoft.Net.Http.Headers;

namespace LoadBalancing.Proxy.Upstream;

/// <summary>
/// Turns response header bytes into strings without allocating when they repeat: well-known names map to
/// shared strings, and each header position remembers the previous response's name and value on the same
/// connection. An upstream that sends the same headers every time (the common case) costs no strings at all,
/// except a new <c>Date</c> once a second.
/// </summary>
internal sealed class HeaderStringCache
{
    private const int Slots = 32;

    private static readonly (byte[] Bytes, string Name)[] KnownNames = new[]
    {
        HeaderNames.ContentType, HeaderNames.Date, HeaderNames.Server, HeaderNames.CacheControl, HeaderNames.ETag,
        HeaderNames.LastModified, HeaderNames.SetCookie, HeaderNames.Location, HeaderNames.Vary, HeaderNames.ContentEncoding,
        HeaderNames.Expires, HeaderNames.AcceptRanges, HeaderNames.Age, HeaderNames.Pragma, HeaderNames.ContentLanguage,
        HeaderNames.ContentRange, HeaderNames.ContentDisposition, HeaderNames.AccessControlAllowOrigin, HeaderNames.Via,
        HeaderNames.WWWAuthenticate, HeaderNames.RetryAfter, HeaderNames.StrictTransportSecurity, HeaderNames.XContentTypeOptions,
        HeaderNames.Upgrade, HeaderNames.SecWebSocketAccept, HeaderNames.SecWebSocketProtocol, HeaderNames.SecWebSocketExtensions,
        HeaderNames.AltSvc, HeaderNames.Link,
    }.Select(n => (Encoding.ASCII.GetBytes(n), n)).ToArray();

    private readonly byte[]?[] _nameBytes = new byte[Slots][];
    private readonly string?[] _names = new string[Slots];
    private readonly byte[]?[] _valueBytes = new byte[Slots][];
    private readonly string?[] _values = new string[Slots];

    public string GetName(int position, ReadOnlySpan<byte> bytes) => Get(position, bytes, _nameBytes, _names, KnownName);

    public string GetValue(int position, ReadOnlySpan<byte> bytes) => Get(position, bytes, _valueBytes, _values, static _ => null);

    /// <summary>The previous response's string at this position when the bytes repeat (the common case), else a new one.</summary>
    private static string Get(int position, ReadOnlySpan<byte> bytes, byte[]?[] lastBytes, string?[] lastStrings, Func<ReadOnlySpan<byte>, string?> shared)
    {
        if (position < Slots && lastStrings[position] is { } last && bytes.SequenceEqual(lastBytes[position]))
        {
            return last;
        }

        var value = shared(bytes) ?? Encoding.Latin1.GetString(bytes);
        if (position < Slots)
        {
            lastBytes[position] = bytes.ToArray();
            lastStrings[position] = value;
        }

        return value;
    }

    private static string? KnownName(ReadOnlySpan<byte> bytes)
    {
        foreach (var (known, name) in KnownNames)
        {
            if (known.Length == bytes.Length && System.Text.Ascii.EqualsIgnoreCase(known, bytes))
            {
                return name;
            }
        }

        return null;
    }
}
