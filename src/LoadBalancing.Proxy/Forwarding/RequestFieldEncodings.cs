using System.Text;
using LoadBalancing.Proxy.Metrics;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>Installs <see cref="RequestFieldEncodings"/> in front of whatever header encoding selector Kestrel has.</summary>
internal sealed class RequestFieldGuard(RequestRejections rejections) : IPostConfigureOptions<KestrelServerOptions>
{
    public void PostConfigure(string? name, KestrelServerOptions options) =>
        options.RequestHeaderEncodingSelector = RequestFieldEncodings.Selector(options.RequestHeaderEncodingSelector, rejections);
}


/// <summary>
/// Kestrel's <c>RequestHeaderEncodingSelector</c> hook, used to see two request fields as they arrived. By the time
/// a request reaches middleware Kestrel has parsed <c>Content-Length</c> leniently (<c>+5</c> and <c>005</c> become 5,
/// the raw text is gone) and rewritten a <c>Connection</c> value whose only recognised option is <c>close</c>,
/// <c>keep-alive</c> or <c>Upgrade</c> to that option alone, dropping every field name it nominated. Kestrel decodes
/// both values through the selected encoding before it does either, so that is where the raw bytes can be judged.
/// </summary>
internal static class RequestFieldEncodings
{
    public static Func<string, Encoding?> Selector(Func<string, Encoding?> previous, RequestRejections rejections)
    {
        var contentLength = new ContentLengthEncoding(rejections);
        var connection = new ConnectionEncoding();
        return name =>
        {
            // Known fields arrive as Kestrel's interned names, so the reference checks settle nearly every call.
            if (ReferenceEquals(name, HeaderNames.ContentLength) || (name.Length == 14 && name.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase)))
            {
                return contentLength;
            }

            if (ReferenceEquals(name, HeaderNames.Connection) || (name.Length == 10 && name.Equals(HeaderNames.Connection, StringComparison.OrdinalIgnoreCase)))
            {
                return connection;
            }

            return previous(name);
        };
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
    private sealed class ConnectionEncoding : Latin1FieldEncoding
    {
        private const string Suffix = ", close, keep-alive";

        protected override int CharCount(ReadOnlySpan<byte> bytes)
        {
            RejectNul(bytes);
            return bytes.Length + (NominatesForwardedField(bytes) ? Suffix.Length : 0);
        }

        protected override int Decode(ReadOnlySpan<byte> bytes, Span<char> chars)
        {
            RejectNul(bytes);
            var written = Widen(bytes, chars);
            if (NominatesForwardedField(bytes))
            {
                Suffix.AsSpan().CopyTo(chars[written..]);
                written += Suffix.Length;
            }

            return written;
        }

        private static void RejectNul(ReadOnlySpan<byte> bytes)
        {
            // Kestrel's own decoding refuses NUL in any field; keep that (it answers 400).
            if (bytes.Contains((byte)0))
            {
                throw new DecoderFallbackException("A Connection field contains NUL.");
            }
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
