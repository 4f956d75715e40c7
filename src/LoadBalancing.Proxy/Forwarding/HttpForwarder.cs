using System.IO.Pipelines;
using System.Net.Sockets;
using LoadBalancing.Proxy.Clusters;
using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Upstream;
using LoadBalancing.Proxy.Upstream.Tls;
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
/// <remarks>
/// The whole exchange is one async method on purpose: every nested async method that has to wait
/// allocates its own state machine box, and under concurrency the pooling builders cannot keep up (measured:
/// three nested methods cost about 700 bytes per request; one costs the request's Task only). The steps it
/// awaits are pipe reads and flushes, which complete without allocating.
/// </remarks>
internal sealed partial class HttpForwarder
{
    private readonly ObjectPool<Exchange> _exchanges;
    private readonly TimeProvider _time;

    public HttpForwarder(TimeProvider time)
    {
        _time = time;
        // At least as many as a loaded core has requests in flight: with 64 per core, 128 connections on one core made new
        // exchanges all along.
        _exchanges = Exchange.CreatePool(time, Environment.ProcessorCount * 256);
    }

    /// <param name="context">The request.</param>
    /// <param name="cluster">The cluster its route chose.</param>
    /// <param name="route">The route, for its rewrites, header changes, timeouts and retry policy; null for none.</param>
    /// <param name="accessLog">The access log when this request is to be logged; null otherwise.</param>
    /// <param name="requestStarted">When the request reached the proxy (<see cref="TimeProvider.GetTimestamp"/>), for the access log.</param>
    public Task ForwardAsync(HttpContext context, ProxyCluster cluster, Routing.ProxyRoute? route = null, AccessLog.AccessLogWriter? accessLog = null, long requestStarted = 0)
    {
        // The route and the access log's inputs travel in the pooled exchange: as parameters of the async method they
        // would widen its state machine, the one object a request allocates.
        var exchange = _exchanges.Get();
        exchange.AccessLog = accessLog;
        exchange.RequestStarted = requestStarted;
        exchange.Route = route;
        exchange.Retry = route?.Retry ?? cluster.DefaultRetry;
        exchange.ResponseHeaderTimeout = route?.ResponseHeaderTimeout ?? cluster.Options.ResponseHeaderTimeout;
        return ForwardCoreAsync(context, cluster, exchange);
    }

    private async Task ForwardCoreAsync(HttpContext context, ProxyCluster cluster, Exchange exchange)
    {
        var metrics = cluster.Metrics;
        var options = cluster.Options;
        var request = context.Request;
        var inFlight = metrics.RequestStarted();
        exchange.Start(context.RequestAborted);
        if (exchange.Route?.RequestTimeout is { } requestTimeout)
        {
            exchange.SetDeadline(requestTimeout);
        }

        try
        {
            if (Attempts.OverLimit(options, cluster, exchange, inFlight))
            {
                await ErrorResponses.WriteAsync(context, exchange.Last.Status, exchange.Last.Message).ConfigureAwait(false);
                return;
            }

            var framing = RequestHeadWriter.GetFraming(request);
            if (framing == RequestFraming.Chunked && !await FirstChunkArrivedAsync(request.BodyReader, context.RequestAborted).ConfigureAwait(false))
            {
                // Kestrel could not read the body's framing: answer 400 before anything reaches an upstream.
                exchange.Reason = "bad_request";
                await ErrorResponses.WriteAsync(context, StatusCodes.Status400BadRequest, "the request body is malformed").ConfigureAwait(false);
                return;
            }

            var upgrade = RequestFramingRules.IsWebSocketUpgrade(context);
            var hasBody = framing is RequestFraming.ContentLength or RequestFraming.Chunked;
            var isHead = HttpMethods.IsHead(request.Method);

            // A request may go to a second endpoint after reaching the first only when sending it twice is harmless.
            var replayable = !hasBody && !upgrade && HttpMethodRules.IsIdempotent(request.Method);
            exchange.PickContext = cluster.HashKey.GetContext(context);
            exchange.SessionKey = cluster.SessionCookie?.Read(request);
            exchange.Last = AttemptOutcome.Fail(UpstreamError.NoEndpoint, StatusCodes.Status503ServiceUnavailable, "no healthy upstream");

            var fallbackTried = false;
            for (var attempt = 0; ; attempt++)
            {
                if (!Attempts.TryPickNext(cluster, exchange, attempt, ref fallbackTried))
                {
                    break;
                }

                var pool = cluster.GetPool(in exchange.Pick);
                pool.Totals.Attempt();
                exchange.Attempts = attempt + 1;
                exchange.Upstream = pool.Authority;
                exchange.UpstreamStatus = 0;
                exchange.UpstreamTime = TimeSpan.MinValue;
                var started = _time.GetTimestamp();
                AttemptTracing.Start(context, exchange, cluster.Name, pool, "1.1");

                // 1. A connection: pooled, or new.
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
                            exchange.Pick.Release();
                            exchange.Last = AttemptOutcome.Fail(UpstreamError.ClientAborted, 0, "");
                            AttemptTracing.End(exchange);
                            break;
                        }

                        exchange.Pick.Complete(false, _time.GetElapsedTime(started));
                        exchange.Last = Attempts.ConnectFailed(e, timedOut: e is OperationCanceledException, exchange);
                        AttemptTracing.End(exchange);
                        metrics.Error(exchange.Last.Error);
                        Attempts.RecordConnectFailure(cluster, pool, exchange, e);
                        if (!Attempts.TryTakeRetry(cluster, exchange, attempt, fallbackTried))
                        {
                            break;
                        }

                        pool.Totals.Retried();
                        continue;
                    }
                }

                bool? endpointOk = null;
                var latency = TimeSpan.MinValue;
                var reusable = false;
                var anyResponseBytes = false;
                ValueTask<bool> pump = default;
                var pumping = false;
                try
                {
                    // 2. The request head, and the body streamed alongside the response.
                    RequestHeadWriter.Write(connection.Output, context, pool.Authority, options.PreserveHost, framing, upgrade, exchange.Route, AttemptTracing.Propagated(exchange));
                    if (hasBody)
                    {
                        exchange.Arm(options.IdleTimeout);
                        pump = PumpRequestBodyAsync(request.BodyReader, connection.Output, framing == RequestFraming.Chunked, exchange, options);
                        pumping = true;
                    }
                    else
                    {
                        exchange.Arm(exchange.ResponseHeaderTimeout);
                        var flush = await connection.Output.FlushAsync(exchange.Token).ConfigureAwait(false);
                        if (flush.IsCompleted)
                        {
                            throw new ConnectionResetException("The upstream connection closed.");
                        }
                    }

                    // 3. The response head, skipping interim 1xx responses (the client's 100-continue is Kestrel's).
                    string? invalid = null;
                    while (true)
                    {
                        var result = await connection.Input.ReadAsync(exchange.Token).ConfigureAwait(false);
                        var buffer = result.Buffer;
                        anyResponseBytes |= !buffer.IsEmpty;
                        var status = ResponseHeadParser.TryParse(
                            buffer, options.MaxResponseHeaderBytes, isHead, context.Response, HeaderStringCache.Current, out exchange.Head, out var end, out invalid);
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
                            break;
                        }

                        connection.Input.AdvanceTo(end);
                        if (exchange.Head.StatusCode is < 100 or >= 200 or 101)
                        {
                            break;
                        }
                    }

                    latency = _time.GetElapsedTime(started);
                    exchange.UpstreamTime = latency;
                    if (invalid is null)
                    {
                        pool.Totals.Response(exchange.Head.StatusCode);
                    }

                    if (invalid is not null)
                    {
                        context.Response.Clear();
                        endpointOk = false;
                        exchange.Last = AttemptOutcome.Fail(UpstreamError.BadResponse, StatusCodes.Status502BadGateway, "upstream sent an invalid response: " + invalid);
                    }
                    else if (replayable
                        && exchange.Retry.RetriesStatus(exchange.Head.StatusCode)
                        && cluster.Balancer.Status.UsableEndpoints > exchange.Tried.Count
                        && Attempts.TryRetryStatus(cluster, exchange, attempt, exchange.Head.StatusCode))
                    {
                        // A status the route retries, and another endpoint to try: drop this answer (its headers and
                        // the connection, whose body is unread) and go again.
                        context.Response.Clear();
                        endpointOk = false;
                        exchange.UpstreamStatus = exchange.Head.StatusCode;
                    }
                    else
                    {
                        exchange.HeadersReceived = true;
                        exchange.UpstreamStatus = exchange.Head.StatusCode;
                        metrics.UpstreamLatency.Record(latency);
                        endpointOk = exchange.Head.StatusCode < 500;
                        context.Response.StatusCode = exchange.Head.StatusCode;
                        exchange.Route?.ResponseHeaders?.Apply(context.Response.Headers);
                        cluster.SessionCookie?.IssueIfMoved(context, in exchange.Pick, exchange.SessionKey);
                        exchange.Last = AttemptOutcome.Success;
                        if (exchange.Pick.Status != PickStatus.Fallback)
                        {
                            cluster.EndpointAnswered();
                        }

                        if (exchange.Head.StatusCode == 101)
                        {
                            // 4a. Switching protocols: a byte tunnel until either side ends it, to the protocol asked for only.
                            if (upgrade && RequestFramingRules.SwitchesToWebSocket(context.Response.Headers))
                            {
                                await TunnelAsync(context, connection, exchange).ConfigureAwait(false);
                            }
                            else
                            {
                                context.Response.Clear();
                                endpointOk = false;
                                exchange.Last = AttemptOutcome.Fail(UpstreamError.BadResponse, StatusCodes.Status502BadGateway, upgrade
                                    ? "upstream sent an invalid response: 101 to a protocol other than the websocket the request asked for"
                                    : "upstream sent an invalid response: 101 to a request that did not ask to switch protocols");
                            }
                        }
                        else
                        {
                            // 4b. The response body, then whether the connection can carry another request.
                            var body = await CopyResponseBodyAsync(connection, context.Response, exchange.Head, exchange, options).ConfigureAwait(false);
                            exchange.Last = body switch
                            {
                                BodyResult.Invalid => AttemptOutcome.Fail(UpstreamError.BadResponse, StatusCodes.Status502BadGateway, "upstream sent an invalid response: broken chunked framing"),
                                BodyResult.Truncated => AttemptOutcome.Fail(UpstreamError.Reset, StatusCodes.Status502BadGateway, "upstream closed the connection mid-response"),
                                BodyResult.ClientGone => AttemptOutcome.Fail(UpstreamError.ClientAborted, 0, ""),
                                _ => AttemptOutcome.Success,
                            };
                            if (body is BodyResult.Invalid or BodyResult.Truncated)
                            {
                                endpointOk = false;
                            }

                            var requestSent = true;
                            if (exchange.Last.Done && pumping)
                            {
                                if (!pump.IsCompleted)
                                {
                                    // The upstream answered without reading the whole body: the connection is not clean.
                                    exchange.Cancel();
                                }

                                pumping = false;
                                requestSent = await pump.ConfigureAwait(false);
                            }

                            reusable = exchange.Last.Done && exchange.Head.KeepAlive && requestSent && exchange.Head.Framing != BodyFraming.UntilClose;
                        }
                    }
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ConnectionAbortedException or ObjectDisposedException or InvalidOperationException)
                {
                    latency = _time.GetElapsedTime(started);
                    exchange.Last = Classify(e, context, exchange, anyResponseBytes, replayable);
                    if (exchange.Last.Error is not UpstreamError.ClientAborted)
                    {
                        endpointOk = false;
                    }
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
                        exchange.Pick.Complete(ok, latency);
                    }
                    else
                    {
                        exchange.Pick.Release();
                    }

                    if (reusable && connection.IsClean())
                    {
                        pool.Return(connection);
                    }
                    else
                    {
                        await connection.DisposeAsync().ConfigureAwait(false);
                    }

                    AttemptTracing.End(exchange);
                }

                if (exchange.Last.Done)
                {
                    return;
                }

                if (exchange.Last.IsStatusRetry)
                {
                    // Decided (and the budget taken) before the answer was dropped.
                    pool.Totals.Retried();
                    continue;
                }

                metrics.Error(exchange.Last.Error);

                // A TLS 1.3 server refuses a client certificate (or its absence) only after the handshake, by closing.
                Attempts.RecordFailure(cluster, pool, exchange, exchange.Last.Error == UpstreamError.Reset && connection.ClosedBeforeAnyTlsData
                    ? (UpstreamTlsException.Rejected, UpstreamTlsException.RejectedMessage)
                    : null);

                if (context.RequestAborted.IsCancellationRequested || !Attempts.TryTakeRetry(cluster, exchange, attempt, fallbackTried))
                {
                    break;
                }

                pool.Totals.Retried();
            }

            if (Attempts.AbortedWithoutAnswer(context, cluster, exchange))
            {
                return;
            }

            await ErrorResponses.WriteAsync(context, exchange.Last.Status, exchange.Last.Message).ConfigureAwait(false);
        }
        finally
        {
            Attempts.End(context, cluster, exchange);
            _exchanges.Return(exchange);
        }
    }

    private static AttemptOutcome Classify(Exception e, HttpContext context, Exchange exchange, bool anyResponseBytes, bool replayable)
    {
        if (context.RequestAborted.IsCancellationRequested)
        {
            return AttemptOutcome.Fail(UpstreamError.ClientAborted, 0, "");
        }

        if (exchange.RequestBodyFailed)
        {
            return AttemptOutcome.Fail(UpstreamError.ClientAborted, StatusCodes.Status400BadRequest, "the request body could not be read");
        }

        if (e is OperationCanceledException)
        {
            if (exchange.DeadlinePassed)
            {
                return Attempts.RequestTimedOut;
            }

            return exchange.HeadersReceived
                ? AttemptOutcome.Fail(UpstreamError.Timeout, StatusCodes.Status504GatewayTimeout, "upstream response body stalled")
                : AttemptOutcome.Fail(UpstreamError.Timeout, StatusCodes.Status504GatewayTimeout, "upstream did not answer in time");
        }

        return !exchange.HeadersReceived && !anyResponseBytes && replayable
            ? AttemptOutcome.Retry(UpstreamError.Reset, StatusCodes.Status502BadGateway, "upstream connection failed")
            : AttemptOutcome.Fail(UpstreamError.Reset, StatusCodes.Status502BadGateway, "upstream connection failed");
    }

    /// <summary>
    /// Waits for the first bytes of a chunked body (without consuming them), which makes Kestrel validate the
    /// first chunk header before an upstream is chosen. False when the body is malformed.
    /// </summary>
    internal static async ValueTask<bool> FirstChunkArrivedAsync(PipeReader body, CancellationToken cancellationToken)
    {
        try
        {
            var result = await body.ReadAsync(cancellationToken).ConfigureAwait(false);
            body.AdvanceTo(result.Buffer.Start);
            return true;
        }
        catch (Exception e) when (e is BadHttpRequestException or IOException or OperationCanceledException or InvalidOperationException { InnerException: System.Text.DecoderFallbackException })
        {
            // The last: a trailer field refused as it was decoded (RequestFieldEncodings), which Kestrel passes on as is
            // when the trailers arrive with the first chunk.
            return false;
        }
    }
}
