using System.Globalization;
using System.Net;
using Grpc.Core;
using LoadBalancing.Grpc.Internal;

namespace LoadBalancing.Grpc;

/// <summary>
/// Tells this package's load balancers how each call ended: its gRPC status (from a trailers-only response's headers
/// or from the trailers at the end of the response) and its time to the response headers. Put it in the channel's
/// <c>GrpcChannelOptions.HttpHandler</c>, around the <see cref="SocketsHttpHandler"/>:
/// grpc-dotnet's own completion callback fires when the headers arrive and carries no status, so without this handler
/// only transport errors count as failures.
/// </summary>
/// <remarks>
/// A call fails, for outlier detection and peak-EWMA's penalty, when the send throws, the HTTP status is 429 or 5xx,
/// or the gRPC status is UNAVAILABLE, RESOURCE_EXHAUSTED, INTERNAL, UNKNOWN, DATA_LOSS or DEADLINE_EXCEEDED; any
/// other status (OK, NOT_FOUND, INVALID_ARGUMENT, ...) is the application's answer and counts as a success. A call the
/// client abandons after the headers (the response disposed before its end) counts as a success. Calls of channels
/// that do not use this package's policies pass through untouched.
/// </remarks>
public sealed class LoadBalancingFeedbackHandler : DelegatingHandler
{
    /// <summary>Wraps a new <see cref="SocketsHttpHandler"/> with <see cref="SocketsHttpHandler.EnableMultipleHttp2Connections"/> on.</summary>
    public LoadBalancingFeedbackHandler()
        : base(new SocketsHttpHandler { EnableMultipleHttp2Connections = true })
    {
    }

    /// <summary>Wraps the given handler, which must be (or wrap) the channel's <see cref="SocketsHttpHandler"/>.</summary>
    /// <param name="innerHandler">The handler that sends the requests.</param>
    public LoadBalancingFeedbackHandler(HttpMessageHandler innerHandler)
        : base(innerHandler)
    {
    }

    /// <inheritdoc />
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!request.Options.TryGetValue(CallTracker.Key, out var tracker))
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        tracker.Observe();
        HttpResponseMessage response;
        try
        {
            response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            tracker.Finish(success: false, tracker.Elapsed());
            throw;
        }

        var latency = tracker.Elapsed();
        if (response.StatusCode != HttpStatusCode.OK)
        {
            tracker.Finish(success: !IsFailure(response.StatusCode), latency);
        }
        else if (TryGetStatus(response.Headers, out var status))
        {
            // Trailers-only: the whole call ended with the headers.
            tracker.Finish(success: !IsFailure(status), latency);
        }
        else
        {
            response.Content = new ObservedContent(response.Content, response, tracker, latency);
        }

        return response;
    }

    internal static bool IsFailure(HttpStatusCode status) => status == HttpStatusCode.TooManyRequests || (int)status >= 500;

    internal static bool IsFailure(StatusCode status) => status is StatusCode.Unavailable or StatusCode.ResourceExhausted or StatusCode.Internal
        or StatusCode.Unknown or StatusCode.DataLoss or StatusCode.DeadlineExceeded;

    internal static bool TryGetStatus(System.Net.Http.Headers.HttpHeaders headers, out StatusCode status)
    {
        if (headers.NonValidated.TryGetValues("grpc-status", out var values))
        {
            foreach (var value in values)
            {
                if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var code))
                {
                    status = (StatusCode)code;
                    return true;
                }
            }
        }

        status = default;
        return false;
    }

    /// <summary>The response body, followed to its end, where the trailers (and so the call's status) arrive.</summary>
    private sealed class ObservedContent : HttpContent
    {
        private readonly HttpContent _inner;
        private readonly HttpResponseMessage _response;
        private readonly CallTracker _tracker;
        private readonly TimeSpan _latency;

        public ObservedContent(HttpContent inner, HttpResponseMessage response, CallTracker tracker, TimeSpan latency)
        {
            _inner = inner;
            _response = response;
            _tracker = tracker;
            _latency = latency;
            foreach (var header in inner.Headers.NonValidated)
            {
                foreach (var value in header.Value)
                {
                    Headers.TryAddWithoutValidation(header.Key, value);
                }
            }
        }

        /// <summary>The body ended: the trailers are in.</summary>
        public void Ended()
        {
            var failed = !TryGetStatus(_response.TrailingHeaders, out var status) || IsFailure(status);
            _tracker.Finish(success: !failed, _latency);
        }

        public void Broke() => _tracker.Finish(success: false, _latency);

        /// <summary>The client let go before the end: the server answered, so it is not the endpoint's failure.</summary>
        public void Abandoned()
        {
            var success = !TryGetStatus(_response.TrailingHeaders, out var status) || !IsFailure(status);
            _tracker.Finish(success, _latency);
        }

        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
            new ObservedStream(await _inner.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), this);

        protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            var body = await CreateContentReadStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                await body.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
            }
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
                Abandoned();
            }

            base.Dispose(disposing);
        }
    }

    private sealed class ObservedStream(Stream inner, ObservedContent content) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int read;
            try
            {
                read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch
            {
                content.Broke();
                throw;
            }

            if (read == 0 && buffer.Length > 0)
            {
                content.Ended();
            }

            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int read;
            try
            {
                read = inner.Read(buffer);
            }
            catch
            {
                content.Broke();
                throw;
            }

            if (read == 0 && buffer.Length > 0)
            {
                content.Ended();
            }

            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                content.Abandoned();
            }

            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync().ConfigureAwait(false);
            content.Abandoned();
            await base.DisposeAsync().ConfigureAwait(false);
        }
    }
}
