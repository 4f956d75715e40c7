using System.Net.Sockets;
using LoadBalancing.Proxy.Clusters;
using LoadBalancing.Proxy.Forwarding.Grpc;
using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Upstream.Tls;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.ObjectPool;

namespace LoadBalancing.Proxy.Forwarding.Multiplexed;

/// <summary>
/// Forwards one request to a cluster that speaks HTTP/2 to its endpoints, through each endpoint's
/// <see cref="Upstream.Multiplexed.MultiplexedClient"/>. Every request — every gRPC call, however many share the
/// client's connection — is balanced on its own, and its outcome (status, <c>grpc-status</c>, latency) goes back to
/// the balancer. Bodies stream both ways at once; trailers are forwarded. Failures of gRPC calls are answered as gRPC
/// statuses. The attempt loop is the HTTP/1.1 forwarder's: the same picks, retry conditions and budget.
/// </summary>
internal sealed partial class MultiplexedForwarder
{
    private readonly ObjectPool<Exchange> _exchanges;
    private readonly TimeProvider _time;

    public MultiplexedForwarder(TimeProvider time)
    {
        _time = time;
        _exchanges = Exchange.CreatePool(time, Environment.ProcessorCount * 16);
    }

    public Task ForwardAsync(HttpContext context, ProxyCluster cluster, Routing.ProxyRoute? route, AccessLog.AccessLogWriter? accessLog, long requestStarted)
    {
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
        var grpc = GrpcCalls.IsGrpc(request);
        var inFlight = metrics.RequestStarted();
        exchange.Start(context.RequestAborted);
        if (exchange.Route?.RequestTimeout is { } requestTimeout)
        {
            exchange.SetDeadline(requestTimeout);
        }

        var grpcDeadline = false;
        if (grpc && options.Grpc.HonourDeadlines && GrpcCalls.TryParseTimeout(request.Headers["grpc-timeout"], out var callTimeout))
        {
            grpcDeadline = exchange.TightenDeadline(callTimeout);
        }

        try
        {
            if (Attempts.OverLimit(options, cluster, exchange, inFlight))
            {
                await AnswerAsync(context, exchange, grpc, grpcDeadline).ConfigureAwait(false);
                return;
            }

            var framing = RequestHeadWriter.GetFraming(request);
            if (framing == RequestFraming.Chunked && !await HttpForwarder.FirstChunkArrivedAsync(request.BodyReader, context.RequestAborted).ConfigureAwait(false))
            {
                exchange.Reason = "bad_request";
                exchange.Last = AttemptOutcome.Fail(UpstreamError.ClientAborted, StatusCodes.Status400BadRequest, "the request body is malformed");
                await AnswerAsync(context, exchange, grpc, grpcDeadline).ConfigureAwait(false);
                return;
            }

            if (RequestFramingRules.IsWebSocketUpgrade(context))
            {
                // An HTTP/1.1 Upgrade has no HTTP/2 form towards the upstream (RFC 8441 is for clients that speak HTTP/2).
                exchange.Reason = "upgrade_unsupported";
                await ErrorResponses.WriteAsync(context, StatusCodes.Status502BadGateway, "the cluster speaks HTTP/2 to its endpoints; WebSocket upgrades need Protocol Http1").ConfigureAwait(false);
                return;
            }

            var hasBody = framing is RequestFraming.ContentLength or RequestFraming.Chunked;
            var replayable = !hasBody && HttpMethodRules.IsIdempotent(request.Method);
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
                var client = pool.Multiplexed!;
                pool.Totals.Attempt();
                exchange.Attempts = attempt + 1;
                exchange.Upstream = pool.Authority;
                exchange.UpstreamStatus = 0;
                exchange.UpstreamTime = TimeSpan.MinValue;
                var started = _time.GetTimestamp();
                AttemptTracing.Start(context, exchange, cluster.Name, pool, "2");
                var body = hasBody ? new RequestBodyContent(request.BodyReader, exchange) : null;
                var message = UpstreamRequest.Create(context, client, pool.Authority, options.PreserveHost, framing, exchange.Route, body, AttemptTracing.Propagated(exchange));
                HttpResponseMessage? response = null;
                bool? endpointOk = null;
                var latency = TimeSpan.MinValue;
                var connectFailed = false;
                try
                {
                    exchange.Arm(exchange.ResponseHeaderTimeout);
                    response = await client.Invoker.SendAsync(message, exchange.Token).ConfigureAwait(false);
                    latency = _time.GetElapsedTime(started);
                    exchange.UpstreamTime = latency;
                    var status = (int)response.StatusCode;
                    exchange.UpstreamStatus = status;
                    pool.Totals.Response(status);
                    if (replayable
                        && exchange.Retry.RetriesStatus(status)
                        && cluster.Balancer.Status.UsableEndpoints > exchange.Tried.Count
                        && Attempts.TryRetryStatus(cluster, exchange, attempt, status))
                    {
                        endpointOk = false;
                    }
                    else
                    {
                        exchange.HeadersReceived = true;
                        metrics.UpstreamLatency.Record(latency);
                        if (exchange.Pick.Status != PickStatus.Fallback)
                        {
                            cluster.EndpointAnswered();
                        }

                        ResponseMessageCopy.WriteHead(context.Response, response, exchange.Route);
                        cluster.SessionCookie?.IssueIfMoved(context, in exchange.Pick, exchange.SessionKey);
                        var result = await CopyBodyAsync(response, context, exchange, options).ConfigureAwait(false);
                        exchange.Last = result switch
                        {
                            BodyResult.ClientGone => AttemptOutcome.Fail(UpstreamError.ClientAborted, 0, ""),
                            _ => AttemptOutcome.Success,
                        };
                        if (result == BodyResult.Complete)
                        {
                            ResponseMessageCopy.WriteTrailers(context.Response, response);
                        }

                        endpointOk = status < 500 && IsGrpcSuccess(grpc, response, cluster.GrpcFailures);
                        if (grpc)
                        {
                            AttemptTracing.GrpcStatus(exchange, response);
                        }
                    }
                }
                catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
                {
                    latency = _time.GetElapsedTime(started);
                    connectFailed = IsConnectFailure(e) && body is not { Started: true };
                    exchange.Last = connectFailed
                        ? Attempts.ConnectFailed(ConnectCause(e), timedOut: e.InnerException is SocketException { SocketErrorCode: SocketError.TimedOut }, exchange)
                        : Classify(e, context, exchange, replayable);
                    if (exchange.Last.Error is not UpstreamError.ClientAborted)
                    {
                        endpointOk = false;
                    }

                    if (connectFailed)
                    {
                        Attempts.RecordConnectFailure(cluster, pool, exchange, ConnectCause(e));
                    }
                }
                finally
                {
                    if (endpointOk is bool ok)
                    {
                        exchange.Pick.Complete(ok, latency);
                    }
                    else
                    {
                        exchange.Pick.Release();
                    }

                    response?.Dispose();
                    if (body is not null)
                    {
                        // Before the message's disposal disposes the content, and before the request ends.
                        await body.StopAsync().ConfigureAwait(false);
                    }

                    message.Dispose();
                    AttemptTracing.End(exchange);
                }

                if (exchange.Last.Done)
                {
                    return;
                }

                if (exchange.Last.IsStatusRetry)
                {
                    pool.Totals.Retried();
                    continue;
                }

                metrics.Error(exchange.Last.Error);
                if (!connectFailed)
                {
                    Attempts.RecordFailure(cluster, pool, exchange);
                }

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

            await AnswerAsync(context, exchange, grpc, grpcDeadline).ConfigureAwait(false);
        }
        finally
        {
            Attempts.End(context, cluster, exchange);
            _exchanges.Return(exchange);
        }
    }

    /// <summary>The proxy's own answer for a request it could not complete: plain HTTP, or a gRPC status for a call.</summary>
    private static Task AnswerAsync(HttpContext context, Exchange exchange, bool grpc, bool grpcDeadline)
    {
        if (!grpc)
        {
            return ErrorResponses.WriteAsync(context, exchange.Last.Status, exchange.Last.Message);
        }

        var message = grpcDeadline && exchange.DeadlinePassed ? "the call's deadline passed at the proxy" : exchange.Last.Message;
        return GrpcCalls.WriteFailureAsync(context, GrpcCalls.ForProxyFailure(exchange.Last.Status), message);
    }

    private static bool IsGrpcSuccess(bool grpc, HttpResponseMessage response, int failures) =>
        !grpc || GrpcCalls.Status(response) is not (>= 0 and < 32 and var status) || (failures & (1 << status)) == 0;

    /// <summary>Whether the request never reached the endpoint: the connect step (ours) failed.</summary>
    private static bool IsConnectFailure(Exception e) =>
        e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError } request
        && (request.InnerException is SocketException or UpstreamTlsException || request.HttpRequestError != HttpRequestError.ConnectionError);

    private static Exception ConnectCause(Exception e) => e.InnerException is SocketException or UpstreamTlsException ? e.InnerException : e;

    private static AttemptOutcome Classify(Exception e, HttpContext context, Exchange exchange, bool replayable)
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

        return !exchange.HeadersReceived && replayable
            ? AttemptOutcome.Retry(UpstreamError.Reset, StatusCodes.Status502BadGateway, "upstream connection failed")
            : AttemptOutcome.Fail(UpstreamError.Reset, StatusCodes.Status502BadGateway, "upstream connection failed");
    }
}
