using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Forwarding;

internal sealed partial class HttpForwarder
{
    /// <summary>Sends the request body upstream while the response is read, so neither side can stall the other.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<bool> PumpRequestBodyAsync(PipeReader client, PipeWriter upstream, bool chunked, Exchange exchange, ClusterOptions options)
    {
        try
        {
            var flushHead = await upstream.FlushAsync(exchange.Token).ConfigureAwait(false);
            if (flushHead.IsCompleted)
            {
                return false;
            }

            while (true)
            {
                ReadResult result;
                try
                {
                    // The exchange's token ends the read, not as the read's own token (RequestBodyCancellation says why).
                    using (RequestBodyCancellation.Register(client, exchange.Token))
                    {
                        result = await client.ReadAsync().ConfigureAwait(false);
                    }
                }
                catch (OperationCanceledException)
                {
                    return false;
                }
                catch (Exception e) when (e is IOException or BadHttpRequestException or ConnectionResetException or InvalidOperationException)
                {
                    exchange.FailRequestBody();
                    return false;
                }

                if (result.IsCanceled)
                {
                    client.AdvanceTo(result.Buffer.Start);
                    return false;
                }

                // At most one upstream block per flush (see MaxBytesPerFlush); the rest stays for the next turn.
                var buffer = FirstBytes(result.Buffer, MaxBytesPerFlush);
                var last = result.IsCompleted && buffer.End.Equals(result.Buffer.End);
                if (!buffer.IsEmpty)
                {
                    if (chunked)
                    {
                        WriteChunkHeader(upstream, buffer.Length);
                    }

                    Write(upstream, buffer);
                    if (chunked)
                    {
                        upstream.Write("\r\n"u8);
                    }
                }

                exchange.BytesIn += buffer.Length;
                client.AdvanceTo(buffer.End);
                if (last && chunked)
                {
                    upstream.Write("0\r\n\r\n"u8);
                }

                var flush = await upstream.FlushAsync(exchange.Token).ConfigureAwait(false);
                if (flush.IsCompleted)
                {
                    return false;
                }

                if (!exchange.HeadersReceived)
                {
                    exchange.Arm(last ? exchange.ResponseHeaderTimeout : options.IdleTimeout);
                }

                if (last)
                {
                    return true;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ConnectionAbortedException or ObjectDisposedException or InvalidOperationException)
        {
            // Writing upstream failed; the response side tells the client what happened.
            return false;
        }
    }

    private static void WriteChunkHeader(PipeWriter output, long length)
    {
        var span = output.GetSpan(18);
        length.TryFormat(span, out var written, "X", System.Globalization.CultureInfo.InvariantCulture);
        span[written++] = (byte)'\r';
        span[written++] = (byte)'\n';
        output.Advance(written);
    }
}
