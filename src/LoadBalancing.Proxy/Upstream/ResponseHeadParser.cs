using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using LoadBalancing.Proxy.Forwarding;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace LoadBalancing.Proxy.Upstream;

/// <summary>The result of <see cref="ResponseHeadParser.TryParse"/>.</summary>
internal enum ParseStatus
{
    /// <summary>The head is not complete yet: read more.</summary>
    Incomplete,

    /// <summary>The head was parsed.</summary>
    Done,

    /// <summary>The head is not valid HTTP/1.1; the message says why.</summary>
    Invalid,
}

/// <summary>
/// Parses an upstream HTTP/1.x response head strictly: the framing rules of RFC 9112 §6 with the ambiguous
/// cases (Content-Length with Transfer-Encoding, differing Content-Lengths, codings other than chunked,
/// obsolete line folding, bare LF, control characters) rejected, so a confused upstream can never make the
/// proxy pass on a response the client would frame differently.
/// </summary>
internal static class ResponseHeadParser
{
    private static ReadOnlySpan<byte> EndOfHead => "\r\n\r\n"u8;

    /// <summary>Parses one response head at the start of <paramref name="buffer"/>.</summary>
    /// <param name="buffer">Bytes read from the upstream.</param>
    /// <param name="maxBytes">The largest head accepted.</param>
    /// <param name="isHeadRequest">Whether the request was HEAD (no body follows whatever the headers say).</param>
    /// <param name="target">
    /// Where to copy end-to-end headers of a final (non-1xx, or 101) response; hop-by-hop headers and
    /// Content-Length (set through <see cref="HttpResponse.ContentLength"/>) are left out.
    /// </param>
    /// <param name="cache">Header strings of the previous response parsed on this thread.</param>
    /// <param name="head">The parsed head.</param>
    /// <param name="end">Where the body starts.</param>
    /// <param name="error">Why the head is invalid.</param>
    public static ParseStatus TryParse(
        in ReadOnlySequence<byte> buffer, int maxBytes, bool isHeadRequest, HttpResponse target, HeaderStringCache cache,
        out ResponseHead head, out SequencePosition end, out string? error)
    {
        head = default;
        error = null;

        // The common case: the whole head arrived in one block. A vectorised search finds its end; the sequence
        // reader's multi-byte search below costs more than parsing the head itself.
        if (buffer.IsSingleSegment)
        {
            var span = buffer.FirstSpan;
            var at = span.IndexOf(EndOfHead);
            if (at < 0)
            {
                end = buffer.Start;
                return NoEndYet(buffer, maxBytes, out error);
            }

            end = buffer.GetPosition(at + EndOfHead.Length);
            return at + EndOfHead.Length > maxBytes
                ? TooLarge(maxBytes, out error)
                : Parse(span[..at], isHeadRequest, target, cache, ref head, out error);
        }

        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> headBytes, EndOfHead, advancePastDelimiter: true))
        {
            end = buffer.Start;
            return NoEndYet(buffer, maxBytes, out error);
        }

        end = reader.Position;
        var length = (int)Math.Min(headBytes.Length, int.MaxValue);
        if (length + EndOfHead.Length > maxBytes)
        {
            return TooLarge(maxBytes, out error);
        }

        if (headBytes.IsSingleSegment)
        {
            return Parse(headBytes.FirstSpan, isHeadRequest, target, cache, ref head, out error);
        }

        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            headBytes.CopyTo(rented);
            return Parse(rented.AsSpan(0, length), isHeadRequest, target, cache, ref head, out error);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>No CRLFCRLF in the buffer: incomplete, unless it can never become a valid head.</summary>
    private static ParseStatus NoEndYet(in ReadOnlySequence<byte> buffer, int maxBytes, out string? error)
    {
        if (buffer.Length > maxBytes)
        {
            return TooLarge(maxBytes, out error);
        }

        // A head with bare-LF line ends never shows CRLFCRLF: waiting on would turn it into a reset or a timeout.
        if (HasBareLineFeed(buffer))
        {
            error = "a line ends in a bare LF";
            return ParseStatus.Invalid;
        }

        error = null;
        return ParseStatus.Incomplete;
    }

    private static ParseStatus TooLarge(int maxBytes, out string? error)
    {
        error = $"the response head is larger than {maxBytes} bytes";
        return ParseStatus.Invalid;
    }

    private static ParseStatus Parse(ReadOnlySpan<byte> text, bool isHeadRequest, HttpResponse target, HeaderStringCache cache, ref ResponseHead head, out string? error)
    {
        // Status line: HTTP/1.x SP 3DIGIT [SP reason]
        var lineEnd = text.IndexOf("\r\n"u8);
        var statusLine = lineEnd < 0 ? text : text[..lineEnd];
        var rest = lineEnd < 0 ? [] : text[(lineEnd + 2)..];
        if (statusLine.Length < 12
            || !statusLine.StartsWith("HTTP/1."u8)
            || (statusLine[7] != (byte)'1' && statusLine[7] != (byte)'0')
            || statusLine[8] != (byte)' '
            || !IsDigit(statusLine[9]) || !IsDigit(statusLine[10]) || !IsDigit(statusLine[11])
            || (statusLine.Length > 12 && statusLine[12] != (byte)' ')
            || statusLine.IndexOfAny((byte)'\r', (byte)'\n', (byte)0) >= 0)
        {
            error = "the status line is not HTTP/1.x";
            return ParseStatus.Invalid;
        }

        var http11 = statusLine[7] == (byte)'1';
        var status = ((statusLine[9] - '0') * 100) + ((statusLine[10] - '0') * 10) + (statusLine[11] - '0');
        // RFC 9110 §15: every valid status code is within 100–599.
        if (status is < 100 or > 599)
        {
            error = $"status {status} is not a valid status code";
            return ParseStatus.Invalid;
        }

        head.StatusCode = status;
        var final = status >= 200 || status == 101;
        var headers = final ? target.Headers : null;

        long contentLength = -1;
        var chunked = false;
        var close = !http11;
        var position = 0;
        while (!rest.IsEmpty)
        {
            lineEnd = rest.IndexOf("\r\n"u8);
            var line = lineEnd < 0 ? rest : rest[..lineEnd];
            rest = lineEnd < 0 ? [] : rest[(lineEnd + 2)..];

            if (line.IsEmpty || line[0] is (byte)' ' or (byte)'\t')
            {
                error = "obsolete line folding or an empty header line";
                return ParseStatus.Invalid;
            }

            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !IsToken(line[..colon]))
            {
                error = "a header line has no valid name";
                return ParseStatus.Invalid;
            }

            var nameBytes = line[..colon];
            var value = FieldText.TrimOws(line[(colon + 1)..]);
            if (FieldText.HasControl(value))
            {
                error = "a header value contains a control character";
                return ParseStatus.Invalid;
            }

            var kind = Classify(nameBytes, status);
            if (kind == FieldKind.ContentLength)
            {
                if (!Utf8Parser.TryParse(value, out long parsed, out var consumed) || consumed != value.Length || parsed < 0 || !IsDigits(value)
                    || (contentLength >= 0 && contentLength != parsed))
                {
                    error = "Content-Length is invalid or repeated with a different value";
                    return ParseStatus.Invalid;
                }

                contentLength = parsed;
                continue;
            }

            if (kind == FieldKind.TransferEncoding)
            {
                if (chunked || !System.Text.Ascii.EqualsIgnoreCase(value, "chunked"u8))
                {
                    error = "Transfer-Encoding is not exactly one 'chunked'";
                    return ParseStatus.Invalid;
                }

                chunked = true;
                continue;
            }

            if (kind == FieldKind.Connection)
            {
                ReadConnectionTokens(value, ref head, ref close, http11);
                continue;
            }

            if (headers is null || kind == FieldKind.HopByHop)
            {
                continue;
            }

            var name = cache.GetName(position, nameBytes);
            var valueString = cache.GetValue(position, value);
            position++;
            if (!Set(headers, name, valueString))
            {
                // A host that set no response encoding (the proxy's listeners set Latin-1): Kestrel cannot send the bytes.
                error = "a header value has bytes beyond ASCII, which this server's Kestrel has no ResponseHeaderEncodingSelector to send";
                return ParseStatus.Invalid;
            }
        }

        if (chunked && contentLength >= 0)
        {
            error = "the response has both Content-Length and Transfer-Encoding";
            return ParseStatus.Invalid;
        }

        if (chunked && !http11)
        {
            error = "an HTTP/1.0 response cannot be chunked";
            return ParseStatus.Invalid;
        }

        head.KeepAlive = !close;
        if (isHeadRequest || status < 200 || status is 204 or 304)
        {
            head.Framing = BodyFraming.None;
            if (status == 101)
            {
                head.KeepAlive = false;
            }

            // HEAD keeps the Content-Length the GET would have had.
            if (isHeadRequest && status >= 200 && contentLength >= 0 && status is not (204 or 304))
            {
                target.ContentLength = contentLength;
            }
        }
        else if (chunked)
        {
            head.Framing = BodyFraming.Chunked;
        }
        else if (contentLength >= 0)
        {
            head.Framing = BodyFraming.ContentLength;
            head.ContentLength = contentLength;
            target.ContentLength = contentLength;
        }
        else
        {
            head.Framing = BodyFraming.UntilClose;
            head.KeepAlive = false;
        }

        if (final && head.ConnectionTokens is { } tokens)
        {
            foreach (var token in tokens)
            {
                target.Headers.Remove(token);
            }
        }

        error = null;
        return ParseStatus.Done;
    }

    private static void ReadConnectionTokens(ReadOnlySpan<byte> value, ref ResponseHead head, ref bool close, bool http11)
    {
        // Nearly every response says just one of these: no splitting for them.
        if (System.Text.Ascii.EqualsIgnoreCase(value, "keep-alive"u8))
        {
            close = close && http11;
            return;
        }

        if (System.Text.Ascii.EqualsIgnoreCase(value, "close"u8))
        {
            close = true;
            return;
        }

        foreach (var range in value.Split((byte)','))
        {
            var token = FieldText.TrimOws(value[range]);
            if (token.IsEmpty)
            {
                continue;
            }

            if (System.Text.Ascii.EqualsIgnoreCase(token, "close"u8))
            {
                close = true;
            }
            else if (System.Text.Ascii.EqualsIgnoreCase(token, "keep-alive"u8))
            {
                close = close && http11; // HTTP/1.0 keep-alive opt-in; an explicit close in HTTP/1.1 stays
            }
            else if (!System.Text.Ascii.EqualsIgnoreCase(token, "upgrade"u8))
            {
                (head.ConnectionTokens ??= []).Add(System.Text.Encoding.Latin1.GetString(token));
            }
        }
    }

    /// <summary>What a field is to the parser, by its name; the length picks the one or two names worth comparing.</summary>
    private static FieldKind Classify(ReadOnlySpan<byte> name, int status) => name.Length switch
    {
        2 when IsKnownName(name, "TE"u8) => FieldKind.HopByHop,
        7 when IsKnownName(name, "Trailer"u8) || (status != 101 && IsKnownName(name, "Upgrade"u8)) => FieldKind.HopByHop,
        10 when IsKnownName(name, "Connection"u8) => FieldKind.Connection,
        10 when IsKnownName(name, "Keep-Alive"u8) => FieldKind.HopByHop,
        14 when IsKnownName(name, "Content-Length"u8) => FieldKind.ContentLength,
        16 when IsKnownName(name, "Proxy-Connection"u8) => FieldKind.HopByHop,
        17 when IsKnownName(name, "Transfer-Encoding"u8) => FieldKind.TransferEncoding,
        _ => FieldKind.EndToEnd,
    };

    /// <summary>
    /// Whether a field name (a validated token) is <paramref name="known"/> (letters and '-'), in any case. Among token
    /// bytes, setting bit 0x20 maps only a letter's two cases together and leaves '-' alone, so the comparison is exact.
    /// Eight bytes at a time (the last word overlapping), a response's names cost 120 instructions against 296 with
    /// <c>Ascii.EqualsIgnoreCase</c> and 262 with a loop of bytes (callgrind, docs/benchmarks.md).
    /// </summary>
    internal static bool IsKnownName(ReadOnlySpan<byte> token, ReadOnlySpan<byte> known)
    {
        const ulong Fold = 0x2020202020202020;
        if (token.Length != known.Length)
        {
            return false;
        }

        if (known.Length < sizeof(ulong))
        {
            for (var i = 0; i < known.Length; i++)
            {
                if ((token[i] | 0x20) != (known[i] | 0x20))
                {
                    return false;
                }
            }

            return true;
        }

        var last = known.Length - sizeof(ulong);
        for (var i = 0; i < last; i += sizeof(ulong))
        {
            if ((BinaryPrimitives.ReadUInt64LittleEndian(token[i..]) | Fold) != (BinaryPrimitives.ReadUInt64LittleEndian(known[i..]) | Fold))
            {
                return false;
            }
        }

        return (BinaryPrimitives.ReadUInt64LittleEndian(token[last..]) | Fold) == (BinaryPrimitives.ReadUInt64LittleEndian(known[last..]) | Fold);
    }

    /// <summary>
    /// The fields the parser acts on. Hop-by-hop: RFC 9110 §7.6.1's (Upgrade except on a 101), plus Trailer, since the
    /// proxy does not forward trailers. Connection is hop-by-hop too, and read for its options first.
    /// </summary>
    private enum FieldKind
    {
        EndToEnd = 0,
        ContentLength,
        TransferEncoding,
        Connection,
        HopByHop,
    }

    private static bool HasBareLineFeed(in ReadOnlySequence<byte> buffer)
    {
        var previous = (byte)0;
        foreach (var segment in buffer)
        {
            var span = segment.Span;
            for (var at = span.IndexOf((byte)'\n'); at >= 0; at = span.IndexOf((byte)'\n'))
            {
                if ((at > 0 ? span[at - 1] : previous) != (byte)'\r')
                {
                    return true;
                }

                previous = (byte)'\n';
                span = span[(at + 1)..];
            }

            if (!span.IsEmpty)
            {
                previous = span[^1];
            }
        }

        return false;
    }

    // Kestrel checks each value as it is set: beyond ASCII only when a response encoding is chosen for the name.
    private static bool Set(IHeaderDictionary headers, string name, string value)
    {
        try
        {
            headers[name] = headers.TryGetValue(name, out var existing) && existing.Count > 0 ? StringValues.Concat(existing, value) : value;
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static bool IsDigit(byte b) => b is >= (byte)'0' and <= (byte)'9';

    private static bool IsDigits(ReadOnlySpan<byte> value) => !value.IsEmpty && !value.ContainsAnyExceptInRange((byte)'0', (byte)'9');

    private static readonly SearchValues<byte> TokenChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    private static bool IsToken(ReadOnlySpan<byte> name) => !name.IsEmpty && !name.ContainsAnyExcept(TokenChars);
}
