using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Forwarding.Multiplexed;

internal sealed partial class MultiplexedForwarder
{
    private const int ReadSize = 16 * 1024;

    private enum BodyResult
    {
        Complete,
        ClientGone,
    }

    /// <summary>
    /// Streams the response body into Kestrel's pipe, read straight into its buffers and flushed after every read, so
    /// each streamed message reaches the client as it arrives. The idle timeout bounds every read; an upstream that
    /// ends the stream early surfaces as an exception, classified by the caller.
    /// </summary>
    private static async ValueTask<BodyResult> CopyBodyAsync(HttpResponseMessage response, HttpContext context, Exchange exchange, ClusterOptions options)
    {
        var output = context.Response.BodyWriter;
        var input = await response.Content.ReadAsStreamAsync(exchange.Token).ConfigureAwait(false);
        await using (input.ConfigureAwait(false))
        {
            while (true)
            {
                exchange.Arm(options.IdleTimeout);
                var memory = output.GetMemory(ReadSize);
                var read = await input.ReadAsync(memory, exchange.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return BodyResult.Complete;
                }

                output.Advance(read);
                exchange.BytesOut += read;
                var flush = await output.FlushAsync(exchange.Token).ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    return BodyResult.ClientGone;
                }
            }
        }
    }
}
