using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Forwarding.Multiplexed;

/// <summary>
/// The client's request body as the upstream request's content, streamed as it arrives and flushed after every
/// read, so a gRPC client stream reaches the upstream message by message while the response streams back (full
/// duplex). Kestrel owns the body reader; this content never completes it.
/// </summary>
internal sealed class RequestBodyContent(PipeReader body, Exchange exchange) : HttpContent
{
    private int _started;

    /// <summary>Whether the body began to be sent: from then on the request cannot be sent again elsewhere.</summary>
    public bool Started => Volatile.Read(ref _started) != 0;

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            // SocketsHttpHandler does not resend a body it began; a second serialization would read a drained pipe.
            throw new InvalidOperationException("The request body was already sent.");
        }

        while (true)
        {
            ReadResult result;
            try
            {
                result = await body.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is BadHttpRequestException or IOException or ConnectionAbortedException)
            {
                // The client's body broke: its fault, not the upstream's.
                exchange.FailRequestBody();
                throw;
            }

            var buffer = result.Buffer;
            foreach (var segment in buffer)
            {
                await stream.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
            }

            exchange.BytesIn += buffer.Length;
            body.AdvanceTo(buffer.End);
            if (result.IsCompleted)
            {
                return;
            }

            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        // The length, when known, is set on the headers by the builder; otherwise the body is streamed in DATA frames.
        length = 0;
        return false;
    }
}
