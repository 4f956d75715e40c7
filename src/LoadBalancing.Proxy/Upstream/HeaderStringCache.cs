using System.Text;
using Microsoft.Net.Http.Headers;

namespace LoadBalancing.Proxy.Upstream;

/// <summary>
/// Turns response header bytes into strings without allocating when they repeat: well-known names map to
/// shared strings, and each header position remembers the previous response's name and value parsed on the same
/// thread. An upstream that sends the same headers every time (the common case, and a cluster's endpoints usually
/// run the same application) costs no strings at all, except a new <c>Date</c> once a second.
/// </summary>
/// <remarks>
/// One cache per thread, not per connection: with a cache per connection a cluster of 1,000 endpoints spread requests
/// over 1,000 cold caches (about 1 KB each), and the cache's look-up doubled its share of the profile
/// (bench/load/run.sh --profile with LB_PROFILE_ENDPOINTS=1000). A parse never awaits, so a thread's cache is never
/// used by two parses at once.
/// </remarks>
internal sealed class HeaderStringCache
{
    [ThreadStatic]
    private static HeaderStringCache? t_current;

    /// <summary>This thread's cache.</summary>
    public static HeaderStringCache Current => t_current ??= new HeaderStringCache();

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
