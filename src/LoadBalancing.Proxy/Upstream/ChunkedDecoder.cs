using System.Buffers;
using System.Globalization;

namespace LoadBalancing.Proxy.Upstream;

/// <summary>What <see cref="ChunkedDecoder.Next"/> found.</summary>
internal enum ChunkStatus
{
    /// <summary>A piece of body data to forward.</summary>
    Data,

    /// <summary>The buffered bytes end mid-frame: read more.</summary>
    NeedMore,

    /// <summary>The last chunk and the trailer section have been read.</summary>
    Done,

    /// <summary>The framing is broken (bad size, missing CRLF, line too long, a malformed trailer line).</summary>
    Invalid,
}

/// <summary>
/// Decodes the chunked transfer coding (RFC 9112 §7.1) incrementally over whatever bytes have arrived.
/// Strict: hex sizes of at most 15 digits, CRLF line ends, bounded size and trailer lines, trailer lines that
/// are well-formed fields (no obs-fold). Trailers are read and dropped.
/// </summary>
internal struct ChunkedDecoder
{
    private const int MaxLineLength = 4096;
    private const long MaxTrailerBytes = 64 * 1024;

    // RFC 9110 §5.6.2 tchar.
    private static readonly SearchValues<byte> TokenBytes =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    // CTLs other than HTAB (RFC 9110 §5.5), CR included: a line's only CR ends it.
    private static readonly SearchValues<byte> ControlBytes = SearchValues.Create(
        [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
         0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x7F]);

    private State _state;
    private long _remaining;
    private long _trailerBytes;

    private enum State
    {
        Size,
        Data,
        DataEnd,
        Trailer,
        Done,
    }

    public readonly bool IsDone => _state == State.Done;

    public ChunkStatus Next(ref SequenceReader<byte> reader, out ReadOnlySequence<byte> data)
    {
        data = default;
        while (true)
        {
            switch (_state)
            {
                case State.Size:
                    {
                        if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
                        {
                            return reader.Remaining > MaxLineLength ? ChunkStatus.Invalid : ChunkStatus.NeedMore;
                        }

                        if (line.Length > MaxLineLength || !TryParseSize(line, out var size))
                        {
                            return ChunkStatus.Invalid;
                        }

                        (_state, _remaining) = size == 0 ? (State.Trailer, 0L) : (State.Data, size);
                        break;
                    }

                case State.Data:
                    {
                        if (reader.End)
                        {
                            return ChunkStatus.NeedMore;
                        }

                        var take = Math.Min(_remaining, reader.Remaining);
                        data = reader.UnreadSequence.Slice(0, take);
                        reader.Advance(take);
                        _remaining -= take;
                        if (_remaining == 0)
                        {
                            _state = State.DataEnd;
                        }

                        return ChunkStatus.Data;
                    }

                case State.DataEnd:
                    if (reader.Remaining < 2)
                    {
                        return ChunkStatus.NeedMore;
                    }

                    if (!reader.IsNext("\r\n"u8, advancePast: true))
                    {
                        return ChunkStatus.Invalid;
                    }

                    _state = State.Size;
                    break;

                case State.Trailer:
                    {
                        if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
                        {
                            return reader.Remaining > MaxLineLength ? ChunkStatus.Invalid : ChunkStatus.NeedMore;
                        }

                        _trailerBytes += line.Length + 1;
                        if (line.Length > MaxLineLength || _trailerBytes > MaxTrailerBytes || !IsTrailerLine(line))
                        {
                            return ChunkStatus.Invalid;
                        }

                        if (line.Length == 1)
                        {
                            _state = State.Done;
                        }

                        break;
                    }

                default:
                    return ChunkStatus.Done;
            }
        }
    }

    /// <summary>
    /// A trailer line (without its LF) is CR alone, or <c>name ":" value CR</c> with a token name and no control
    /// character but HTAB in the value: the same rules as a response head. Trailers are dropped, but a line that breaks
    /// them (bare LF, an obs-fold, a stray CR) means the upstream frames the message differently from us, so the end
    /// of the body cannot be trusted.
    /// </summary>
    private static bool IsTrailerLine(in ReadOnlySequence<byte> line)
    {
        Span<byte> copy = stackalloc byte[MaxLineLength];
        if (!TryLineContent(line, copy, out var span))
        {
            return false;
        }

        if (span.IsEmpty)
        {
            return true;
        }

        var colon = span.IndexOf((byte)':');
        return colon > 0 && !span[..colon].ContainsAnyExcept(TokenBytes) && !span[(colon + 1)..].ContainsAny(ControlBytes);
    }

    /// <summary>A line's bytes before its CR, contiguous (copied into <paramref name="copy"/> when split); false when it does not end in CR.</summary>
    private static bool TryLineContent(in ReadOnlySequence<byte> line, Span<byte> copy, out ReadOnlySpan<byte> content)
    {
        ReadOnlySpan<byte> span;
        if (line.IsSingleSegment)
        {
            span = line.FirstSpan;
        }
        else
        {
            line.CopyTo(copy);
            span = copy[..(int)line.Length];
        }

        if (span.IsEmpty || span[^1] != (byte)'\r')
        {
            content = default;
            return false;
        }

        content = span[..^1];
        return true;
    }

    private static bool TryParseSize(in ReadOnlySequence<byte> line, out long size)
    {
        size = 0;
        Span<byte> copy = stackalloc byte[MaxLineLength];
        if (!TryLineContent(line, copy, out var span))
        {
            return false;
        }

        var digits = 0;
        while (digits < span.Length && IsHex(span[digits]))
        {
            digits++;
        }

        if (digits is 0 or > 15)
        {
            return false; // at most 15 hex digits: a long, with room to spare
        }

        size = long.Parse(span[..digits], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);

        // After the size: optional whitespace, then either nothing or ";extension" (ignored).
        var tail = span[digits..].TrimStart(" \t"u8);
        return tail.IsEmpty || (tail[0] == (byte)';' && !tail.Contains((byte)'\r'));
    }

    private static bool IsHex(byte b) => b is >= (byte)'0' and <= (byte)'9' or >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F';
}
