using System.Buffers;
using System.Diagnostics;
using System.Text;
using LoadBalancing.Proxy.Upstream;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>
/// Unit-level fuzzing of the upstream parsers with generated responses split at random across segments and
/// arrivals: the result must not depend on where the bytes were cut, and a chunked body the decoder calls
/// done must be one the strict reference decodes to the same bytes.
/// </summary>
public sealed class ParserSplitFuzzTests
{
    private const int Seed = 15_0002;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(8);

    [Fact]
    public void ResponseHeadParser_AnySplit_SameResult()
    {
        var dice = new Dice(Seed);
        var failures = new List<string>();
        var clock = Stopwatch.StartNew();
        var cases = 0;
        for (; cases < 5000 && clock.Elapsed < Budget && failures.Count < 5; cases++)
        {
            var wire = ResponseGenerator.Plan(dice).Wire;
            var whole = ParseHead(new ReadOnlySequence<byte>(wire));
            for (var attempt = 0; attempt < 3; attempt++)
            {
                var pieces = dice.Split(wire.Length, 8);
                var split = ParseHead(Segment.Split(wire, pieces));
                if (split != whole)
                {
                    failures.Add($"split [{string.Join(",", pieces)}] of {Wire.Literal(wire)}:\n  whole: {whole}\n  split: {split}");
                    break;
                }
            }
        }

        Assert.True(failures.Count == 0, $"seed {Seed}, {cases} cases:\n" + string.Join("\n", failures));
    }

    [Fact]
    public void ChunkedDecoder_AnySplitAndArrival_SameResult_AndAgreesWithTheReference()
    {
        var dice = new Dice(Seed);
        var failures = new List<string>();
        var clock = Stopwatch.StartNew();
        var cases = 0;
        for (; cases < 5000 && clock.Elapsed < Budget && failures.Count < 5; cases++)
        {
            var payload = Encoding.ASCII.GetString(dice.Printable(dice.Between(0, 80)));
            var wire = Wire.Bytes(ResponseGenerator.Chunked(dice, payload));
            var whole = Decode(wire, [wire.Length], dice, segmented: false);
            var arrivals = dice.Split(wire.Length, 6);
            var split = Decode(wire, arrivals, dice, segmented: true);
            if (split != whole)
            {
                failures.Add($"arrivals [{string.Join(",", arrivals)}] of {Wire.Literal(wire)}:\n  whole: {whole}\n  split: {split}");
            }

            if (whole.Status == ChunkStatus.Done
                && (StrictChunked.Decode(wire, out var expected, out _, out var why) != StrictParse.Complete || Wire.Text(expected) != whole.Body))
            {
                failures.Add($"the decoder finished a body the strict reference does not ({why ?? "different bytes"}): {Wire.Literal(wire)}");
            }
        }

        Assert.True(failures.Count == 0, $"seed {Seed}, {cases} cases:\n" + string.Join("\n", failures));
    }

    private static string ParseHead(ReadOnlySequence<byte> buffer)
    {
        var response = new DefaultHttpContext().Response;
        var status = ResponseHeadParser.TryParse(buffer, 64 * 1024, isHeadRequest: false, response, new HeaderStringCache(), out var head, out var end, out var error);
        var headers = string.Join("|", response.Headers.OrderBy(h => h.Key, StringComparer.Ordinal).Select(h => $"{h.Key}={h.Value}"));
        var tokens = head.ConnectionTokens is null ? "" : string.Join(",", head.ConnectionTokens);
        return $"{status} {error} status={head.StatusCode} framing={head.Framing} length={head.ContentLength} keepAlive={head.KeepAlive} "
            + $"tokens={tokens} end={buffer.Slice(0, end).Length} cl={response.ContentLength} headers={headers}";
    }

    private static (ChunkStatus Status, string Body) Decode(byte[] wire, int[] arrivals, Dice dice, bool segmented)
    {
        var decoder = default(ChunkedDecoder);
        var body = new StringBuilder();
        var pending = Array.Empty<byte>();
        var offset = 0;
        foreach (var arrival in arrivals.Append(0))
        {
            pending = [.. pending, .. wire.AsSpan(offset, arrival)];
            offset += arrival;
            var sequence = segmented ? Segment.Split(pending, dice.Split(pending.Length, 4)) : new ReadOnlySequence<byte>(pending);
            var reader = new SequenceReader<byte>(sequence);
            ChunkStatus status;
            while ((status = decoder.Next(ref reader, out var data)) == ChunkStatus.Data)
            {
                body.Append(Wire.Text(data.ToArray()));
            }

            pending = pending[(int)reader.Consumed..];
            if (status != ChunkStatus.NeedMore || (arrival == 0 && offset == wire.Length))
            {
                return (status, body.ToString());
            }
        }

        return (ChunkStatus.NeedMore, body.ToString());
    }
}
