using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using LoadBalancing.Proxy.Metrics;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>
/// Kestrel's <c>RequestHeaderEncodingSelector</c> hook, used to see every request field as it arrived: Kestrel calls
/// it with each field's name before decoding the value (HTTP/1.x and HTTP/2 alike), and accepts what a fail-closed
/// proxy must not. By the time a request reaches middleware Kestrel has parsed <c>Content-Length</c> leniently
/// (<c>+5</c> and <c>005</c> become 5, the raw text is gone), rewritten a <c>Connection</c> value whose only
/// recognised option is <c>close</c>, <c>keep-alive</c> or <c>Upgrade</c> to that option alone (dropping every field
/// name it nominated), and taken names and values with control characters as ordinary fields: a name such as
/// <c>C\x01ontent-Length</c> is just another header to Kestrel, so the body it announces would be parsed as the next
/// request. Judging here costs one short scan per name and one vectorised scan per value, and the headers are not walked
/// again afterwards. A refused field makes Kestrel answer 400 and close the connection before any middleware runs.
/// </summary>
internal static class RequestFieldEncodings
{
    // RFC 9110 §5.6.2 tchar.
    private static readonly SearchValues<char> TokenChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    // What Kestrel decodes a value with when no selector names an encoding: ASCII or UTF-8, invalid UTF-8 refused.
    private static readonly Encoding DefaultValueEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static Func<string, Encoding?> Selector(Func<string, Encoding?> previous, RequestRejections rejections)
    {
        var contentLength = new ContentLengthEncoding(rejections);
        var connection = new ConnectionEncoding(rejections);
        var badName = new RejectingEncoding(rejections);
        var checkedDefault = new CheckedValueEncoding(DefaultValueEncoding, rejections);
        var checkedOthers = new ConcurrentDictionary<Encoding, CheckedValueEncoding>();
        return name =>
        {
            if (!IsToken(name))
            {
                return badName;
            }

            // Known fields arrive as Kestrel's interned names, so the reference checks settle nearly every call.
            if (ReferenceEquals(name, HeaderNames.ContentLength) || (name.Length == 14 && name.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase)))
            {
                return contentLength;
            }

            if (ReferenceEquals(name, HeaderNames.Connection) || (name.Length == 10 && name.Equals(HeaderNames.Connection, StringComparison.OrdinalIgnoreCase)))
            {
                return connection;
            }

            // An application's own choice of encoding still decodes the value; the check wraps it (one wrapper each).
            return previous(name) is { } chosen
                ? checkedOthers.GetOrAdd(chosen, static (encoding, rejections) => new CheckedValueEncoding(encoding, rejections), rejections)
                : checkedDefault;
        };
    }

    /// <summary>Whether a field name is a token; HTTP/2 pseudo-header names keep their leading colon.</summary>
    internal static bool IsToken(ReadOnlySpan<char> name)
    {
        if (name.Length > 1 && name[0] == ':')
        {
            name = name[1..];
        }

        return !name.IsEmpty && !name.ContainsAnyExcept(TokenChars);
    }

    /// <summary>
    /// Decodes nothing: the field's name is not a token. Kestrel turns the decoder exception into its 400 (the
    /// request is malformed), which ends the connection.
    /// </summary>
    private sealed class RejectingEncoding(RequestRejections rejections) : Latin1FieldEncoding
    {
        protected override int CharCount(ReadOnlySpan<byte> bytes)
        {
            rejections.Add(RequestRejection.HeaderName);
            throw new DecoderFallbackException("A request header name is not a token.");
        }

        protected override int Decode(ReadOnlySpan<byte> bytes, Span<char> chars) =>
            throw new DecoderFallbackException("A request header name is not a token.");
    }

    /// <summary>Refuses a value with a control character, then decodes it as <paramref name="inner"/> would.</summary>
    private sealed unsafe class CheckedValueEncoding(Encoding inner, RequestRejections rejections) : Encoding
    {
        public override int GetByteCount(char[] chars, int index, int count) => inner.GetByteCount(chars, index, count);

        public override int GetBytes(char[] chars, int charIndex, int charCount, byte[] bytes, int byteIndex) =>
            inner.GetBytes(chars, charIndex, charCount, bytes, byteIndex);

        public override int GetMaxByteCount(int charCount) => inner.GetMaxByteCount(charCount);

        public override int GetMaxCharCount(int byteCount) => inner.GetMaxCharCount(byteCount);

        public override int GetCharCount(byte[] bytes, int index, int count)
        {
            Check(bytes.AsSpan(index, count));
            return inner.GetCharCount(bytes, index, count);
        }

        public override int GetChars(byte[] bytes, int byteIndex, int byteCount, char[] chars, int charIndex) =>
            inner.GetChars(bytes, byteIndex, byteCount, chars, charIndex);

        // Encoding.GetString, which Kestrel calls, counts before it decodes: the count is where a value is judged.
        public override int GetCharCount(byte* bytes, int count)
        {
            Check(new ReadOnlySpan<byte>(bytes, count));
            return inner.GetCharCount(bytes, count);
        }

        public override int GetChars(byte* bytes, int byteCount, char* chars, int charCount) =>
            inner.GetChars(bytes, byteCount, chars, charCount);

        private void Check(ReadOnlySpan<byte> value)
        {
            if (FieldText.HasControl(value))
            {
                rejections.Add(RequestRejection.HeaderValue);
                throw new DecoderFallbackException("A request header value contains a control character.");
            }
        }
    }

    /// <summary>
    /// Decodes a Content-Length for Kestrel's parser only when it is 1*DIGIT without leading zeros (RFC 9110 §8.6;
    /// leading zeros are grammatical but some parsers read them as octal); anything else decodes to a text Kestrel's
    /// parser rejects, so the request gets Kestrel's 400 and its connection is closed before any middleware runs.
    /// </summary>
    private sealed class ContentLengthEncoding(RequestRejections rejections) : Latin1FieldEncoding
    {
        // Kestrel parses into a 20-character buffer; long.MaxValue has 19 digits.
        private const int MaxDigits = 19;

        // Kestrel's Content-Length parse: the only caller of the span overload.
        public override int GetChars(ReadOnlySpan<byte> bytes, Span<char> chars)
        {
            if (IsPlainNumber(bytes) && chars.Length >= bytes.Length)
            {
                return Widen(bytes, chars);
            }

            rejections.Add(RequestRejection.ContentLength);
            chars[0] = '-';
            return 1;
        }

        private static bool IsPlainNumber(ReadOnlySpan<byte> value) =>
            value.Length is > 0 and <= MaxDigits
            && !value.ContainsAnyExceptInRange((byte)'0', (byte)'9')
            && (value[0] != (byte)'0' || value.Length == 1);
    }

    /// <summary>
    /// Keeps every name a Connection field nominates visible to the proxy. When a line nominates a field the proxy
    /// would otherwise forward, it is decoded with <c>, close, keep-alive</c> appended: two options, so Kestrel leaves
    /// the value whole, and <c>close</c> wins either way, so the client connection closes after this exchange (the
    /// price of a nomination, which real clients rarely make beyond hop-by-hop fields).
    /// </summary>
    private sealed class ConnectionEncoding(RequestRejections rejections) : Latin1FieldEncoding
    {
        private const string Suffix = ", close, keep-alive";

        protected override int CharCount(ReadOnlySpan<byte> bytes)
        {
            if (FieldText.HasControl(bytes))
            {
                rejections.Add(RequestRejection.HeaderValue);
                throw new DecoderFallbackException("A Connection field contains a control character.");
            }

            return bytes.Length + (NominatesForwardedField(bytes) ? Suffix.Length : 0);
        }

        protected override int Decode(ReadOnlySpan<byte> bytes, Span<char> chars)
        {
            var written = Widen(bytes, chars);
            if (NominatesForwardedField(bytes))
            {
                Suffix.AsSpan().CopyTo(chars[written..]);
                written += Suffix.Length;
            }

            return written;
        }

        private static bool NominatesForwardedField(ReadOnlySpan<byte> value)
        {
            Span<char> name = stackalloc char[64];
            foreach (var range in value.Split((byte)','))
            {
                var token = value[range].Trim(" \t"u8);
                if (token.IsEmpty)
                {
                    continue;
                }

                if (token.Length > name.Length)
                {
                    return true;
                }

                var written = Widen(token, name);
                if (!RequestHeadWriter.IsNeverForwarded(name[..written]))
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>Latin-1 decoding (every byte Kestrel accepted stays that byte) with hooks for the two fields.</summary>
    private abstract unsafe class Latin1FieldEncoding : Encoding
    {
        public override int GetByteCount(char[] chars, int index, int count) => Latin1.GetByteCount(chars, index, count);

        public override int GetBytes(char[] chars, int charIndex, int charCount, byte[] bytes, int byteIndex) =>
            Latin1.GetBytes(chars, charIndex, charCount, bytes, byteIndex);

        public override int GetMaxByteCount(int charCount) => charCount;

        public override int GetMaxCharCount(int byteCount) => byteCount + 32;

        public override int GetCharCount(byte[] bytes, int index, int count) => CharCount(bytes.AsSpan(index, count));

        public override int GetChars(byte[] bytes, int byteIndex, int byteCount, char[] chars, int charIndex) =>
            Decode(bytes.AsSpan(byteIndex, byteCount), chars.AsSpan(charIndex));

        // Encoding.GetString, which Kestrel calls for other fields, goes through the pointer overloads; overriding
        // them keeps it from copying the bytes into arrays first.
        public override int GetCharCount(byte* bytes, int count) => CharCount(new ReadOnlySpan<byte>(bytes, count));

        public override int GetChars(byte* bytes, int byteCount, char* chars, int charCount) =>
            Decode(new ReadOnlySpan<byte>(bytes, byteCount), new Span<char>(chars, charCount));

        protected virtual int CharCount(ReadOnlySpan<byte> bytes) => bytes.Length;

        protected virtual int Decode(ReadOnlySpan<byte> bytes, Span<char> chars) => Widen(bytes, chars);

        protected static int Widen(ReadOnlySpan<byte> bytes, Span<char> chars)
        {
            for (var i = 0; i < bytes.Length; i++)
            {
                chars[i] = (char)bytes[i];
            }

            return bytes.Length;
        }
    }
}
