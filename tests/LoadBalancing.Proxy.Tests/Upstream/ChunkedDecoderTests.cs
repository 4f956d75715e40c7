using System.Buffers;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LoadBalancing.Proxy.Upstream;

namespace LoadBalancing.Proxy.Tests.Upstream;

public sealed class ChunkedDecoderTests
{
    /// <summary>Decodes <paramref name="wire"/> fed in the given piece sizes, as bytes would arrive from a socket.</summary>
    private static (ChunkStatus Status, byte[] Body) Decode(byte[] wire, int[] pieces)
    {
        var decoder = default(ChunkedDecoder);
        var body = new List<byte>();
        var offset = 0;
        var pending = Array.Empty<byte>();
        var piece = 0;
        while (true)
        {
            var take = offset >= wire.Length ? 0 : Math.Min(wire.Length - offset, Math.Max(1, pieces.Length == 0 ? wire.Length : pieces[piece++ % pieces.Length]));
            pending = [.. pending, .. wire.AsSpan(offset, take)];
            offset += take;
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(pending));
            ChunkStatus status;
            while ((status = decoder.Next(ref reader, out var data)) == ChunkStatus.Data)
            {
                body.AddRange(data.ToArray());
            }

            pending = pending[(int)reader.Consumed..];
            if (status != ChunkStatus.NeedMore || take == 0)
            {
                return (status, body.ToArray());
            }
        }
    }

    private static byte[] Encode(byte[] body, int[] chunkSizes, string trailer = "")
    {
        var wire = new List<byte>();
        var offset = 0;
        var i = 0;
        while (offset < body.Length)
        {
            var size = Math.Min(body.Length - offset, Math.Max(1, chunkSizes.Length == 0 ? body.Length : chunkSizes[i++ % chunkSizes.Length]));
            wire.AddRange(Encoding.ASCII.GetBytes($"{size:x}\r\n"));
            wire.AddRange(body.AsSpan(offset, size));
            wire.AddRange("\r\n"u8.ToArray());
            offset += size;
        }

        wire.AddRange(Encoding.ASCII.GetBytes($"0\r\n{trailer}\r\n"));
        return [.. wire];
    }

    [Property(MaxTest = 300)]
    public Property AnyBody_AnyChunking_AnyArrivalPattern_DecodesToTheBody(byte[] body, PositiveInt[] chunks, PositiveInt[] pieces)
    {
        var wire = Encode(body, chunks.Select(c => c.Get % 5000 + 1).ToArray());
        var (status, decoded) = Decode(wire, pieces.Select(p => p.Get % 64 + 1).ToArray());
        return (status == ChunkStatus.Done && decoded.AsSpan().SequenceEqual(body)).Label($"{status}, {decoded.Length}/{body.Length} bytes");
    }

    [Property(MaxTest = 300)]
    public Property TruncatedWire_IsNeverDone(byte[] body, PositiveInt cut)
    {
        var wire = Encode(body, []);
        var truncated = wire[..(cut.Get % wire.Length)];
        return (Decode(truncated, [7]).Status == ChunkStatus.NeedMore).Label($"cut at {truncated.Length} of {wire.Length}");
    }

    [Theory]
    [InlineData("5;name=value\r\nhello\r\n0\r\n\r\n", "hello")]
    [InlineData("5 ;x\r\nhello\r\n0\r\n\r\n", "hello")]
    [InlineData("A\r\n0123456789\r\n0\r\nTrailer: yes\r\n\r\n", "0123456789")]
    [InlineData("1\r\na\r\n0\r\nX-A:\tb c\r\nX-B:\r\n\r\n", "a")]
    public void Extensions_And_Trailers_AreAccepted(string wire, string expected)
    {
        var (status, body) = Decode(Encoding.ASCII.GetBytes(wire), []);

        Assert.Equal(ChunkStatus.Done, status);
        Assert.Equal(expected, Encoding.ASCII.GetString(body));
    }

    [Theory]
    [InlineData("zz\r\nhello\r\n0\r\n\r\n")]
    [InlineData("-5\r\nhello\r\n0\r\n\r\n")]
    [InlineData("5\nhello\r\n0\r\n\r\n")] // bare LF
    [InlineData("5\r\nhelloXX0\r\n\r\n")] // data not followed by CRLF
    [InlineData("1000000000000000\r\n")] // 16 hex digits
    [InlineData("5 x\r\nhello\r\n0\r\n\r\n")]
    [InlineData("0\r\nBad trailer\n\r\n")]
    [InlineData("0\r\nX-Bad: a\nX-More: b\r\n\r\n")] // bare LF inside the trailer section
    [InlineData("0\r\nX-Fold: a\r\n b\r\n\r\n")] // obs-fold
    [InlineData("0\r\nX-Fold: a\r\n\tb\r\n\r\n")] // obs-fold with HTAB
    [InlineData("0\r\nNo colon\r\n\r\n")]
    [InlineData("0\r\nX A: b\r\n\r\n")] // not a token
    [InlineData("0\r\n: b\r\n\r\n")] // no name
    [InlineData("0\r\nX-A: a\rb\r\n\r\n")] // bare CR
    [InlineData("0\r\nX-A: a\u0001b\r\n\r\n")] // control byte
    public void BrokenFraming_IsInvalid(string wire)
    {
        Assert.Equal(ChunkStatus.Invalid, Decode(Encoding.ASCII.GetBytes(wire), []).Status);
    }

    [Fact]
    public void EndlessSizeLine_IsInvalid_NotBufferedForever()
    {
        var wire = Encoding.ASCII.GetBytes("5;" + new string('x', 10_000));

        Assert.Equal(ChunkStatus.Invalid, Decode(wire, []).Status);
    }
}
