using System.Buffers;
using System.IO.Hashing;
using System.Net;
using System.Text;

namespace LoadBalancing;

/// <summary>
/// Request keys for hash-based balancing: xxHash64 (seed 0, as Envoy's hash policies use) over the
/// raw bytes of a header value, cookie, path or client address, without allocating strings.
/// </summary>
public static class RequestKey
{
    /// <summary>Hashes raw bytes (for example a header value as it came off the wire).</summary>
    /// <param name="value">The bytes.</param>
    /// <returns>The 64-bit key.</returns>
    public static ulong FromBytes(ReadOnlySpan<byte> value) => XxHash64.HashToUInt64(value);

    /// <summary>Hashes text as UTF-8 (identical to <see cref="FromBytes"/> over ASCII header values).</summary>
    /// <param name="value">The text.</param>
    /// <returns>The 64-bit key.</returns>
    public static ulong FromString(ReadOnlySpan<char> value)
    {
        // Header values are almost always ASCII: hash the characters as bytes without copying them.
        if (AsciiXxHash64.TryHash(value, out var key))
        {
            return key;
        }

        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        var rented = ArrayPool<byte>.Shared.Rent(max);
        try
        {
            var written = Encoding.UTF8.GetBytes(value, rented);
            return XxHash64.HashToUInt64(rented.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Hashes a client address in its text form (as Envoy's source-IP hash policy does).</summary>
    /// <param name="address">The address.</param>
    /// <returns>The 64-bit key.</returns>
    public static ulong FromAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<char> text = stackalloc char[64];
        return address.TryFormat(text, out var written)
            ? FromString(text[..written])
            : FromString(address.ToString());
    }

    /// <summary>
    /// Finds a cookie's value in a <c>Cookie</c> header and hashes it; returns <c>false</c> when the
    /// cookie is absent (then pick without a key, which hash algorithms treat as random).
    /// </summary>
    /// <param name="cookieHeader">The <c>Cookie</c> header value.</param>
    /// <param name="name">The cookie name.</param>
    /// <param name="key">The 64-bit key of the cookie's value.</param>
    /// <returns>Whether the cookie was found.</returns>
    public static bool TryFromCookie(ReadOnlySpan<char> cookieHeader, ReadOnlySpan<char> name, out ulong key)
    {
        var found = TryGetCookie(cookieHeader, name, out var value);
        key = found ? FromString(value) : 0;
        return found;
    }

    /// <summary>
    /// Finds the first cookie of a name in a <c>Cookie</c> header (RFC 6265 §4.2), without allocating; the value is
    /// trimmed and a quoted value unquoted.
    /// </summary>
    /// <param name="cookieHeader">The <c>Cookie</c> header value.</param>
    /// <param name="name">The cookie name (compared exactly).</param>
    /// <param name="value">The cookie's value, a slice of <paramref name="cookieHeader"/>.</param>
    /// <returns>Whether the cookie was found.</returns>
    public static bool TryGetCookie(ReadOnlySpan<char> cookieHeader, ReadOnlySpan<char> name, out ReadOnlySpan<char> value)
    {
        while (!cookieHeader.IsEmpty)
        {
            var end = cookieHeader.IndexOf(';');
            var pair = (end < 0 ? cookieHeader : cookieHeader[..end]).Trim();
            cookieHeader = end < 0 ? default : cookieHeader[(end + 1)..];
            var eq = pair.IndexOf('=');
            if (eq > 0 && pair[..eq].Trim().SequenceEqual(name))
            {
                value = pair[(eq + 1)..].Trim();
                if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
                {
                    value = value[1..^1];
                }

                return true;
            }
        }

        value = default;
        return false;
    }
}
