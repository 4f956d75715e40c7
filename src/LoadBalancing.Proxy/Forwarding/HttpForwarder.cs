using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using LoadBalancing.Proxy.Clusters;
using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Upstream;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.ObjectPool;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>
/// Forwards one request to a cluster: pick an endpoint, take or open a pooled connection, send the head and
/// stream the body, read and validate the response head, stream the response body back, and tell the
/// balancer how it went. Failures before the upstream could have acted on the request are retried on a
/// different endpoint.
/// </summary>
internal sealed partial class HttpForwarder
{
    private const int MaxRepicks = 8;

    private readonly ObjectPool<Exchange> _exchanges;
    private readonly TimeProvider _time;

    public HttpForwarder(TimeProvider time)
    {
        _time = time;
        _exchanges = new DefaultObjectPool<Exchange>(new Exchange.Policy(time), Environment.ProcessorCount * 64);
    }

    public async Task ForwardAsync(HttpContext context, ProxyCluster cluster)
    {
        var metrics = cluster.Metrics;
        metrics.RequestStarted();
        var exchange = _exchanges.Get();
        exchange.Start(context.RequestAborted);
        try
        {
            await ForwardCoreAsync(context, cluster, exchange).ConfigureAwait(false);
        }
        finally
        {
            _exchanges.Return(exchange);
            metrics.RequestEnded(context.RequestAborted.IsCancellationRequested ? 0 : context.Response.StatusCode);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ForwardCoreAsync(HttpContext context, ProxyCluster cluster, Exchange exchange)
    {
        var request = context.Request;
        var framing = RequestHeadWriter.GetFraming(request);
        var upgrade = context.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest == true;
        var hasBody = framing is RequestFraming.ContentLength or RequestFraming.Chunked;

        // A request may go to a second endpoint after reaching the first only when sending it twice is harmless.
        var replayable = !hasBody && !upgrade && HttpMethodRules.IsIdempotent(request.Method);
        if (framing == RequestFraming.Chunked && !await FirstChunkArrivedAsync(request.BodyReader, context.RequestAborted).ConfigureAwait(false))
        {
            // Kestrel could not read the body's framing: answer 400 before anything reaches an upstream.
            await ErrorResponses.WriteAsync(context, StatusCodes.Status400BadRequest, "the request body is malformed").ConfigureAwait(false);
            return;
        }

        var pickContext = cluster.HashKey.GetContext(context);
        var tried = default(TriedEndpoints);
        var last = AttemptOutcome.Fail(UpstreamError.NoEndpoint, StatusCodes.Status503ServiceUnavailable, "no healthy upstream");

        for (var attempt = 0; attempt < cluster.Options.MaxAttempts; attempt++)
        {
            // Affinity applies to the first try; a retry wants any other endpoint.
            var pick = PickUntried(cluster.Balancer, attempt == 0 ? pickContext : PickContext.None, in tried);
            if (!pick.HasEndpoint)
            {
                break;
            }

            if (attempt > 0)
            {
                cluster.Metrics.Retry();
            }

            if (pick.Status == PickStatus.Fallback)
            {
                cluster.Metrics.Fallback();
            }

            tried.Add(pick.Endpoint!);
            last = await AttemptAsync(context, cluster, exchange, pick, framing, upgrade, replayable).ConfigureAwait(false);
            if (last.Done)
            {
                return;
            }

            cluster.Metrics.Error(last.Error);
            if (last.Error != UpstreamError.ClientAborted)
            {
                cluster.RecordError(pick.State, last.Message);
            }

            if (!last.Retryable || context.RequestAborted.IsCancellationRequested)
            {
                break;
            }
        }

        if (last.Error == UpstreamError.NoEndpoint)
        {
            cluster.Metrics.Error(UpstreamError.NoEndpoint);
        }

        if ((last.Error == UpstreamError.ClientAborted && last.Status == 0) || context.RequestAborted.IsCancellationRequested)
        {
            context.Abort();
            return;
        }

        await ErrorResponses.WriteAsync(context, last.Status, last.Message).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits for the first bytes of a chunked body (without consuming them), which makes Kestrel validate the
    /// first chunk header before an upstream is chosen. False when the body is malformed.
    /// </summary>
    private static async ValueTask<bool> FirstChunkArrivedAsync(PipeReader body, CancellationToken cancellationToken)
    {
        try
        {
            var result = await body.ReadAsync(cancellationToken).ConfigureAwait(false);
            body.AdvanceTo(result.Buffer.Start);
            return true;
        }
        catch (Exception e) when (e is BadHttpRequestException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    private static PickResult PickUntried(Balancer balancer, PickContext context, in TriedEndpoints tried)
    {
        var pick = balancer.Pick(in context);
        for (var i = 0; i < MaxRepicks && pick.HasEndpoint && tried.Contains(pick.Endpoint!); i++)
        {
            pick.Release();
            pick = balancer.Pick(PickContext.None);
        }

        if (pick.HasEndpoint && tried.Contains(pick.Endpoint!))
        {
            pick.Release();
            return default;
        }

        return pick;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<AttemptOutcome> AttemptAsync(
        HttpContext context, ProxyCluster cluster, Exchange exchange, PickResult pick, RequestFraming framing, bool upgrade, bool replayable)
    {
        var options = cluster.Options;
        var pool = cluster.GetPool(in pick);
        var started = _time.GetTimestamp();

        if (!pool.TryTake(out var connection))
        {
            try
            {
                exchange.Arm(options.ConnectTimeout);
                connection = await pool.ConnectAsync(exchange.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
            {
                if (context.RequestAborted.IsCancellationRequested)
                {
                    pick.Release();
                    return AttemptOutcome.Fail(UpstreamError.ClientAborted, 0, "");
                }

                pick.Complete(false, _time.GetElapsedTime(started));
                return e is OperationCanceledException
                    ? AttemptOutcome.Retry(UpstreamError.Connect, StatusCodes.Status504GatewayTimeout, "upstream connect timed out")
                    : AttemptOutcome.Retry(UpstreamError.Connect, StatusCodes.Status503ServiceUnavailable, "upstream connect failed");
            }
        }

        connection.Requests++;
        var isHead = HttpMethods.IsHead(context.Request.Method);
        var hasBody = framing is RequestFraming.ContentLength or RequestFraming.Chunked;
        bool? endpointOk = null;
        var latency = TimeSpan.MinValue;
        var reusable = false;
        var headReceived = false;
        var anyResponseBytes = false;
        ValueTask<bool> pump = default;
        var pumping = false;
        try
        {
            RequestHeadWriter.Write(connection.Output, context, pool.Authority, options.PreserveHost, framing, upgrade);
            if (hasBody)
            {
                exchange.Arm(options.IdleTimeout);
                pump = PumpRequestBodyAsync(context.Request.BodyReader, connection.Output, framing == RequestFraming.Chunked, exchange, options);
                pumping = true;
            }
            else
            {
                exchange.Arm(options.ResponseHeaderTimeout);
                var flush = await connection.Output.FlushAsync(exchange.Token).ConfigureAwait(false);
                if (flush.IsCompleted)
                {
                    throw new ConnectionResetException("The upstream connection closed.");
                }
            }

            // The response head, skipping interim 1xx responses (the client's 100-continue is Kestrel's).
            ResponseHead head;
            while (true)
            {
                var result = await connection.Input.ReadAsync(exchange.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                anyResponseBytes |= !buffer.IsEmpty;
                var status = ResponseHeadParser.TryParse(
                    buffer, options.MaxResponseHeaderBytes, isHead, context.Response, connection.HeaderCache, out head, out var end, out var error);
                if (status == ParseStatus.Incomplete)
                {
                    connection.Input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        throw new ConnectionResetException("The upstream closed the connection before a complete response head.");
                    }

                    continue;
                }

                if (status == ParseStatus.Invalid)
                {
                    connection.Input.AdvanceTo(buffer.End);
                    context.Response.Clear();
                    endpointOk = false;
                    latency = _time.GetElapsedTime(started);
                    return AttemptOutcome.Fail(UpstreamError.BadResponse, StatusCodes.Status502BadGateway, "upstream sent an invalid response: " + error);
                }

                connection.Input.AdvanceTo(end);
                if (head.StatusCode is >= 100 and < 200 and not 101)
                {
                    continue;
                }

                break;
            }

            headReceived = true;
            exchange.HeadersReceived = true;
            latency = _time.GetElapsedTime(started);
            cluster.Metrics.UpstreamLatency.Record(latency);
            endpointOk = head.StatusCode < 500;
            context.Response.StatusCode = head.StatusCode;

            if (head.StatusCode == 101)
            {
                if (!upgrade)
                {
                    context.Response.Clear();
                    endpointOk = false;
                    return AttemptOutcome.Fail(UpstreamError.BadResponse, StatusCodes.Status502BadGateway, "upstream switched protocols unasked");
                }

                await TunnelAsync(context, connection, exchange).ConfigureAwait(false);
                return AttemptOutcome.Success;
            }

            var body = await CopyResponseBodyAsync(connection.Input, context.Response, head, exchange, options).ConfigureAwait(false);
            switch (body)
            {
                case BodyResult.Invalid:
                    endpointOk = false;
                    return AttemptOutcome.Fail(UpstreamError.BadResponse, StatusCodes.Status502BadGateway, "upstream sent an invalid response: broken chunked framing");
                case BodyResult.Truncated:
                    endpointOk = false;
                    return AttemptOutcome.Fail(UpstreamError.Reset, StatusCodes.Status502BadGateway, "upstream closed the connection mid-response");
                case BodyResult.ClientGone:
                    return AttemptOutcome.Fail(UpstreamError.ClientAborted, 0, "");
            }

            var requestSent = true;
            if (pumping)
            {
                if (!pump.IsCompleted)
                {
                    // The upstream answered without reading the whole body: the connection is not clean.
                    exchange.Cancel();
                }

                pumping = false;
                requestSent = await pump.ConfigureAwait(false);
            }

            reusable = head.KeepAlive && requestSent && head.Framing != BodyFraming.UntilClose;
            return AttemptOutcome.Success;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ConnectionAbortedException or ObjectDisposedException or InvalidOperationException)
        {
            latency = _time.GetElapsedTime(started);
            if (context.RequestAborted.IsCancellationRequested)
            {
                return AttemptOutcome.Fail(UpstreamError.ClientAborted, 0, "");
            }

            if (exchange.RequestBodyFailed)
            {
                return AttemptOutcome.Fail(UpstreamError.ClientAborted, StatusCodes.Status400BadRequest, "the request body could not be read");
            }

            endpointOk = false;
            if (e is OperationCanceledException)
            {
                return headReceived
                    ? AttemptOutcome.Fail(UpstreamError.Timeout, StatusCodes.Status504GatewayTimeout, "upstream response body stalled")
                    : AttemptOutcome.Fail(UpstreamError.Timeout, StatusCodes.Status504GatewayTimeout, "upstream did not answer in time");
            }

            return !headReceived && !anyResponseBytes && replayable
                ? AttemptOutcome.Retry(UpstreamError.Reset, StatusCodes.Status502BadGateway, "upstream connection failed")
                : AttemptOutcome.Fail(UpstreamError.Reset, StatusCodes.Status502BadGateway, "upstream connection failed");
        }
        finally
        {
            if (pumping)
            {
                exchange.Cancel();
                await pump.ConfigureAwait(false);
            }

            if (endpointOk is bool ok)
            {
                pick.Complete(ok, latency);
            }
            else
            {
                pick.Release();
            }

            if (reusable && connection.IsClean())
            {
                pool.Return(connection);
            }
            else
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private enum BodyResult
    {
        Complete,
        Truncated,
        Invalid,
        ClientGone,
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<BodyResult> CopyResponseBodyAsync(PipeReader input, HttpResponse response, ResponseHead head, Exchange exchange, ClusterOptions options)
    {
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
                        var take = Math.Min(remaining, buffer.Length);
                        Write(output, buffer.Slice(0, take));
                        input.AdvanceTo(buffer.GetPosition(take));
                        remaining -= take;
                        if (take > 0 && !await FlushAsync(output, exchange).ConfigureAwait(false))
                        {
                            return BodyResult.ClientGone;
                        }

                        if (remaining > 0 && result.IsCompleted)
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
                        var status = DecodeChunks(ref decoder, input, result, output, out var wrote);
                        if (status == ChunkStatus.Invalid)
                        {
                            return BodyResult.Invalid;
                        }

                        if (wrote && !await FlushAsync(output, exchange).ConfigureAwait(false))
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
                    var buffer = result.Buffer;
                    Write(output, buffer);
                    input.AdvanceTo(buffer.End);
                    if (!buffer.IsEmpty && !await FlushAsync(output, exchange).ConfigureAwait(false))
                    {
                        return BodyResult.ClientGone;
                    }

                    if (result.IsCompleted)
                    {
                        return BodyResult.Complete;
                    }
                }
        }
    }

    private static ChunkStatus DecodeChunks(ref ChunkedDecoder decoder, PipeReader input, in ReadResult result, PipeWriter output, out bool wrote)
    {
        wrote = false;

        // Validate what has arrived before writing any of it, so broken framing in the first read becomes a
        // clean 502 instead of a response already half-written.
        var probe = decoder;
        var probeReader = new SequenceReader<byte>(result.Buffer);
        while (probe.Next(ref probeReader, out _) == ChunkStatus.Data)
        {
        }

        if (probe.Next(ref probeReader, out _) == ChunkStatus.Invalid)
        {
            input.AdvanceTo(result.Buffer.End);
            return ChunkStatus.Invalid;
        }

        var reader = new SequenceReader<byte>(result.Buffer);
        ChunkStatus status;
        while ((status = decoder.Next(ref reader, out var data)) == ChunkStatus.Data)
        {
            Write(output, data);
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

    private static async ValueTask<bool> FlushAsync(PipeWriter output, Exchange exchange)
    {
        var flush = await output.FlushAsync(exchange.Token).ConfigureAwait(false);
        return !flush.IsCompleted && !flush.IsCanceled;
    }

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
                    result = await client.ReadAsync(exchange.Token).ConfigureAwait(false);
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

                var buffer = result.Buffer;
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

                client.AdvanceTo(buffer.End);
                if (result.IsCompleted && chunked)
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
                    exchange.Arm(result.IsCompleted ? options.ResponseHeaderTimeout : options.IdleTimeout);
                }

                if (result.IsCompleted)
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
