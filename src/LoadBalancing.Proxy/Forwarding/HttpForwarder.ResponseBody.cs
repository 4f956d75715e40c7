using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using LoadBalancing.Proxy.Upstream;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Forwarding;

internal sealed partial class HttpForwarder
{
    private enum BodyResult
    {
        Complete,
        Truncated,
        Invalid,
        ClientGone,
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<BodyResult> CopyResponseBodyAsync(UpstreamConnection connection, HttpResponse response, ResponseHead head, Exchange exchange, ClusterOptions options)
    {
        var input = connection.Input;
        var output = response.BodyWriter;
        switch (head.Framing)
        {
            case BodyFraming.None:
                return BodyResult.Complete;

            case BodyFraming.ContentLength:
                {
                    var remaining = head.ContentLength;
                    while (remaining > 0)
                    {
                        exchange.Arm(options.IdleTimeout);
                        var result = await input.ReadAsync(exchange.Token).ConfigureAwait(false);
                        var buffer = result.Buffer;
                        var take = Math.Min(remaining, Math.Min(buffer.Length, MaxBytesPerFlush));
                        Write(output, buffer.Slice(0, take));
                        exchange.BytesOut += take;
                        input.AdvanceTo(buffer.GetPosition(take));
                        remaining -= take;
                        if (take > 0 && ClientGone(await output.FlushAsync(exchange.Token).ConfigureAwait(false)))
                        {
                            return BodyResult.ClientGone;
                        }

                        if (remaining > 0 && result.IsCompleted && take == buffer.Length)
                        {
                            return BodyResult.Truncated;
                        }
                    }

                    return BodyResult.Complete;
                }

            case BodyFraming.Chunked:
                {
                    var decoder = default(ChunkedDecoder);
                    while (true)
                    {
                        exchange.Arm(options.IdleTimeout);
                        var result = await input.ReadAsync(exchange.Token).ConfigureAwait(false);
                        var status = DecodeChunks(ref decoder, input, result, output, out var wrote, ref exchange.BytesOut);
                        if (status == ChunkStatus.Invalid)
                        {
                            return BodyResult.Invalid;
                        }

                        if (wrote && ClientGone(await output.FlushAsync(exchange.Token).ConfigureAwait(false)))
                        {
                            return BodyResult.ClientGone;
                        }

                        if (status == ChunkStatus.Done)
                        {
                            return BodyResult.Complete;
                        }

                        if (result.IsCompleted)
                        {
                            return BodyResult.Truncated;
                        }
                    }
                }

            default:
                while (true)
                {
                    exchange.Arm(options.IdleTimeout);
                    var result = await input.ReadAsync(exchange.Token).ConfigureAwait(false);
                    var buffer = FirstBytes(result.Buffer, MaxBytesPerFlush);
                    Write(output, buffer);
                    exchange.BytesOut += buffer.Length;
                    input.AdvanceTo(buffer.End);
                    if (!buffer.IsEmpty && ClientGone(await output.FlushAsync(exchange.Token).ConfigureAwait(false)))
                    {
                        return BodyResult.ClientGone;
                    }

                    if (result.IsCompleted && buffer.End.Equals(result.Buffer.End))
                    {
                        // The body ends where the connection does, unless the upstream reset it.
                        return connection.ResetByPeer ? BodyResult.Truncated : BodyResult.Complete;
                    }
                }
        }
    }

    private static ChunkStatus DecodeChunks(ref ChunkedDecoder decoder, PipeReader input, in ReadResult result, PipeWriter output, out bool wrote, ref long bytes)
    {
        wrote = false;

        // Validate what has arrived before writing any of it, so broken framing in the first read becomes a
        // clean 502 instead of a response already half-written.
        // The status that ends the data is the verdict: asking the decoder again would judge the bytes after it.
        var probe = decoder;
        var probeReader = new SequenceReader<byte>(result.Buffer);
        ChunkStatus verdict;
        while ((verdict = probe.Next(ref probeReader, out _)) == ChunkStatus.Data)
        {
        }

        if (verdict == ChunkStatus.Invalid)
        {
            input.AdvanceTo(result.Buffer.End);
            return ChunkStatus.Invalid;
        }

        var reader = new SequenceReader<byte>(result.Buffer);
        ChunkStatus status;
        while ((status = decoder.Next(ref reader, out var data)) == ChunkStatus.Data)
        {
            Write(output, data);
            bytes += data.Length;
            wrote = true;
        }

        if (status == ChunkStatus.NeedMore)
        {
            input.AdvanceTo(reader.Position, result.Buffer.End);
        }
        else
        {
            input.AdvanceTo(reader.Position);
        }

        return status;
    }

    private static void Write(PipeWriter output, in ReadOnlySequence<byte> data)
    {
        foreach (var segment in data)
        {
            output.Write(segment.Span);
        }
    }

    /// <summary>
    /// How many bytes one flush may carry: 28 KiB, which spans at most eight of the 4 KiB blocks Kestrel's
    /// output is written into, wherever the first one starts. A socket send of more buffers than eight takes
    /// a path in the runtime's Unix socket layer that allocates per send: measured on this VM, a 200 MiB
    /// upload cost the proxy 87 MB of garbage with unbounded flushes, 2.6 MB with at most eight segments per
    /// flush, and 1.2 MB with this bound and the upstream socket loop. It matches the upstream side's receive
    /// size (<see cref="PinnedBlockPool.BlockSize"/>).
    /// </summary>
    internal const int MaxBytesPerFlush = PinnedBlockPool.BlockSize;

    /// <summary>The first <paramref name="count"/> bytes of <paramref name="buffer"/> (all of it when shorter).</summary>
    internal static ReadOnlySequence<byte> FirstBytes(in ReadOnlySequence<byte> buffer, int count) =>
        buffer.Length <= count ? buffer : buffer.Slice(0, count);

    private static bool ClientGone(FlushResult flush) => flush.IsCompleted || flush.IsCanceled;
}
