using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Forwarding.Multiplexed;

/// <summary>
/// The client's request body as the upstream request's content, streamed as it arrives and flushed after every
/// read, so a gRPC client stream reaches the upstream message by message while the response streams back (full
/// duplex). Kestrel owns the body reader; this content never completes it, and <see cref="StopAsync"/> leaves it idle
/// before the request ends, so that Kestrel can read off the rest of a body the upstream did not want.
/// </summary>
internal sealed class RequestBodyContent(PipeReader body, Exchange exchange) : HttpContent
{
    private const int NotStarted = 0;
    private const int Sending = 1;
    private const int StoppedUnsent = 2;

    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _sent = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _state;

    /// <summary>Whether the body began to be sent: from then on the request cannot be sent again elsewhere.</summary>
    public bool Started => Volatile.Read(ref _state) == Sending;

    /// <summary>
    /// Ends the sending, if it still runs, and waits until it has: the handler sends a body on its own after the response
    /// came, and may stop it later than the request ends, when Kestrel's reader must be idle.
    /// </summary>
    public async ValueTask StopAsync()
    {
        if (Interlocked.CompareExchange(ref _state, StoppedUnsent, NotStarted) == NotStarted)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _sent.Task.ConfigureAwait(false);
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        switch (Interlocked.CompareExchange(ref _state, Sending, NotStarted))
        {
            case StoppedUnsent:
                throw new OperationCanceledException("The exchange ended before the request body was sent.");
            case Sending:
                // SocketsHttpHandler does not resend a body it began; a second serialization would read a drained pipe.
                throw new InvalidOperationException("The request body was already sent.");
        }

        try
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
            await SendAsync(stream, stop.Token).ConfigureAwait(false);
        }
        finally
        {
            _sent.TrySetResult();
        }
    }

    private async Task SendAsync(Stream stream, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result;
            try
            {
                // The token ends the read, not as the read's own token (RequestBodyCancellation says why).
                using (RequestBodyCancellation.Register(body, cancellationToken))
                {
                    result = await body.ReadAsync(CancellationToken.None).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is BadHttpRequestException or IOException or ConnectionAbortedException)
            {
                // The client's body broke: its fault, not the upstream's.
                exchange.FailRequestBody();
                throw;
            }

            if (result.IsCanceled)
            {
                body.AdvanceTo(result.Buffer.Start);
                cancellationToken.ThrowIfCancellationRequested();
                continue;
            }

            var buffer = result.Buffer;
            try
            {
                foreach (var segment in buffer)
                {
                    await stream.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                // Whatever happened upstream, the reader is left idle.
                body.AdvanceTo(buffer.End);
            }

            exchange.BytesIn += buffer.Length;
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

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stop.Dispose();
        }

        base.Dispose(disposing);
    }
}
