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

    /// <summary>The framing is broken (bad size, missing CRLF, line too long).</summary>
    Invalid,
}

/// <summary>
/// Decodes the chunked transfer coding (RFC 9112 §7.1) incrementally over whatever bytes have arrived.
/// Strict: hex sizes of at most 16 digits, CRLF line ends, bounded size and trailer lines. Trailers are
/// read and dropped.
/// </summary>
internal struct ChunkedDecoder
{
    private const int MaxLineLength = 4096;
    private const long MaxTrailerBytes = 64 * 1024;

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
                        if (line.Length > MaxLineLength || _trailerBytes > MaxTrailerBytes || line.IsEmpty || !EndsWithCr(line))
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

    private static bool EndsWithCr(in ReadOnlySequence<byte> line) => line.Slice(line.Length - 1).FirstSpan[0] == (byte)'\r';

    private static bool TryParseSize(in ReadOnlySequence<byte> line, out long size)
    {
        size = 0;
        Span<byte> copy = stackalloc byte[MaxLineLength];
        var span = line.IsSingleSegment ? line.FirstSpan : copy[..(int)line.Length];
        if (!line.IsSingleSegment)
        {
            line.CopyTo(copy);
        }

        if (span.IsEmpty || span[^1] != (byte)'\r')
        {
            return false;
        }

        span = span[..^1];
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
