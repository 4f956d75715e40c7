using LoadBalancing.Proxy.Clusters;
using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Upstream;
using LoadBalancing.Proxy.Upstream.Tls;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>
/// The attempt loop's decisions, shared by both forwarders: which endpoint the next attempt goes to (untried ones,
/// the fallback as a last resort) and whether a failed attempt is tried again.
/// </summary>
internal static class Attempts
{
    private const int MaxRepicks = 8;

    /// <summary>The <c>lastError.kind</c> of a failed connect, indexed by <see cref="ConnectFailure"/>.</summary>
    public static readonly string[] ConnectFailureKinds = ["connect_refused", "connect_unreachable", "connect_timeout", "connect_reset", "connect_tls"];

    public static readonly AttemptOutcome RequestTimedOut =
        AttemptOutcome.Fail(UpstreamError.Timeout, StatusCodes.Status504GatewayTimeout, "the route's request timeout passed");

    /// <summary>What the client is told when the connect step failed: timed out, TLS, or refused and the like.</summary>
    /// <param name="cause">The failure (the socket's, or the <see cref="UpstreamTlsException"/> of the handshake).</param>
    /// <param name="timedOut">Whether the cluster's connect timeout cut the connect short.</param>
    /// <param name="exchange">The request, whose deadline may be what passed.</param>
    public static AttemptOutcome ConnectFailed(Exception cause, bool timedOut, Exchange exchange)
    {
        if (exchange.DeadlinePassed)
        {
            return RequestTimedOut;
        }

        return cause switch
        {
            UpstreamTlsException { TimedOut: true } => AttemptOutcome.Retry(UpstreamError.Connect, StatusCodes.Status504GatewayTimeout, "upstream TLS handshake timed out"),
            UpstreamTlsException => AttemptOutcome.Retry(UpstreamError.Connect, StatusCodes.Status503ServiceUnavailable, "upstream TLS handshake failed"),
            _ when timedOut => AttemptOutcome.Retry(UpstreamError.Connect, StatusCodes.Status504GatewayTimeout, "upstream connect timed out"),
            _ => AttemptOutcome.Retry(UpstreamError.Connect, StatusCodes.Status503ServiceUnavailable, "upstream connect failed"),
        };
    }

    /// <summary>
    /// Counts a failed connect in the endpoint's totals and its <c>lastError</c>: a handshake failure with its TLS kind
    /// and exact reason (the client hears only that the handshake failed), others by connect failure kind.
    /// </summary>
    public static void RecordConnectFailure(ProxyCluster cluster, UpstreamPool pool, Exchange exchange, Exception cause)
    {
        var failure = EndpointTotals.Classify(cause);
        pool.Totals.ConnectFailed(failure);
        if (cause is UpstreamTlsException tls)
        {
            cluster.RecordError(exchange.Pick.State, tls.Kind, tls.Message);
        }
        else
        {
            cluster.RecordError(exchange.Pick.State, ConnectFailureKinds[(int)failure], exchange.Last.Message);
        }
    }

    /// <summary>
    /// Counts an attempt that failed after the connect in the endpoint's totals and its <c>lastError</c> (a client
    /// that left is not the endpoint's failure); <paramref name="error"/>, when given, is what <c>lastError</c> says.
    /// </summary>
    public static void RecordFailure(ProxyCluster cluster, UpstreamPool pool, Exchange exchange, (string Kind, string Message)? error = null)
    {
        var last = exchange.Last;
        if (last.Error == UpstreamError.Timeout)
        {
            pool.Totals.Timeout();
        }
        else if (last.Error == UpstreamError.Reset)
        {
            pool.Totals.Reset();
        }

        if (error is { } given)
        {
            cluster.RecordError(exchange.Pick.State, given.Kind, given.Message);
        }
        else if (last.Error != UpstreamError.ClientAborted)
        {
            cluster.RecordError(exchange.Pick.State, ClusterMetrics.ErrorNames[(int)last.Error], last.Message);
        }
    }

    /// <summary>
    /// After the last attempt failed: counts a request no endpoint could take, and aborts the client's request when
    /// the client left or the exchange broke without an answer to give; false when the proxy should answer itself.
    /// </summary>
    public static bool AbortedWithoutAnswer(HttpContext context, ProxyCluster cluster, Exchange exchange)
    {
        if (exchange.Last.Error == UpstreamError.NoEndpoint)
        {
            cluster.Metrics.Error(UpstreamError.NoEndpoint);
        }

        if ((exchange.Last.Error == UpstreamError.ClientAborted && exchange.Last.Status == 0) || context.RequestAborted.IsCancellationRequested)
        {
            context.Abort();
            return true;
        }

        return false;
    }

    /// <summary>
    /// Whether the request is one more than the cluster's <see cref="ClusterOptions.MaxConcurrentRequests"/>, given the
    /// count it made when it started: then its outcome is the proxy's own 503, counted as an overflow, and no endpoint is
    /// picked. It stays counted in flight until it ends, as every request does, so the count needs no second update.
    /// </summary>
    public static bool OverLimit(ClusterOptions options, ProxyCluster cluster, Exchange exchange, long inFlight)
    {
        if (options.MaxConcurrentRequests is not { } limit || inFlight <= limit)
        {
            return false;
        }

        exchange.Last = AttemptOutcome.Fail(UpstreamError.Overflow, StatusCodes.Status503ServiceUnavailable, "the cluster is at its limit of concurrent requests");
        cluster.Metrics.Error(UpstreamError.Overflow);
        return true;
    }

    /// <summary>
    /// Ends a forwarded request, whatever happened: gives back its retry budget, writes its access log line, counts it
    /// by status on the cluster and its route. The caller then returns the exchange to its pool.
    /// </summary>
    public static void End(HttpContext context, ProxyCluster cluster, Exchange exchange)
    {
        AttemptTracing.End(exchange); // an attempt whose own ending was skipped by an exception

        cluster.RetryBudget.Exit(exchange.RetrySlots);
        exchange.AccessLog?.WriteForwarded(context, exchange.RequestStarted, cluster, exchange);
        var status = context.RequestAborted.IsCancellationRequested ? 0 : context.Response.StatusCode;
        cluster.Metrics.RequestEnded(status);
        exchange.Route?.Counters.Ended(status);
    }

    /// <summary>
    /// Picks the endpoint of the next attempt into <see cref="Exchange.Pick"/> and records it as tried; false when
    /// there is none left. Affinity (the session's endpoint, else the hash key) applies to the first try; a retry wants
    /// any other endpoint. When every endpoint
    /// tried failed before reaching its upstream (or there was none), the fallback is tried once — for example the
    /// Service's ClusterIP while discovery's list is stale.
    /// </summary>
    public static bool TryPickNext(ProxyCluster cluster, Exchange exchange, int attempt, ref bool fallbackTried)
    {
        exchange.Pick = attempt < exchange.Retry.MaxAttempts
            ? attempt == 0 && exchange.SessionKey is { } session
                ? PickSession(cluster, session, exchange.PickContext)
                : PickUntried(cluster.Balancer, attempt == 0 ? exchange.PickContext : PickContext.None, in exchange.Tried)
            : default;
        if (cluster.Options.MaxRequestsPerEndpoint is { } perEndpoint && !WithinEndpointLimit(cluster, exchange, attempt, perEndpoint))
        {
            return false;
        }

        if (!exchange.Pick.HasEndpoint)
        {
            if (fallbackTried || (attempt > 0 && !exchange.Last.Retryable))
            {
                return false;
            }

            exchange.Pick = cluster.Balancer.PickFallback();
            if (!exchange.Pick.HasEndpoint || exchange.Tried.Contains(exchange.Pick.Endpoint!))
            {
                exchange.Pick.Release();
                return false;
            }
        }

        fallbackTried |= exchange.Pick.Status == PickStatus.Fallback;
        if (attempt > 0)
        {
            cluster.Metrics.Retry();
        }

        if (exchange.Pick.Status == PickStatus.Fallback)
        {
            cluster.Metrics.Fallback();
            cluster.FallbackUsed();
        }

        exchange.Tried.Add(exchange.Pick.Endpoint!);
        return true;
    }

    /// <summary>
    /// Whether a failed attempt is tried again: the outcome allows it, the policy retries its condition, an attempt
    /// (or the fallback) is left, the request timeout has not passed, and the cluster's retry budget has room — in
    /// which case this request takes a slot of it until it ends.
    /// </summary>
    public static bool TryTakeRetry(ProxyCluster cluster, Exchange exchange, int attempt, bool fallbackTried)
    {
        var last = exchange.Last;
        var policy = exchange.Retry;
        if (!last.Retryable || (policy.On & last.Condition) == 0 || exchange.DeadlinePassed)
        {
            return false;
        }

        var attemptLeft = attempt + 1 < policy.MaxAttempts || (!fallbackTried && cluster.Options.Fallback is not null);
        if (!attemptLeft)
        {
            return false;
        }

        if (!cluster.RetryBudget.TryEnter(policy, cluster.Metrics.InFlight))
        {
            cluster.Metrics.RetryOverBudget();
            return false;
        }

        exchange.RetrySlots++;
        return true;
    }

    public static bool TryRetryStatus(ProxyCluster cluster, Exchange exchange, int attempt, int status)
    {
        exchange.Last = AttemptOutcome.RetryStatus(status);
        return TryTakeRetry(cluster, exchange, attempt, fallbackTried: true);
    }

    /// <summary>
    /// Moves a pick that landed on an endpoint at the cluster's <see cref="ClusterOptions.MaxRequestsPerEndpoint"/> to one
    /// with room; false when none has room. The first attempt is then the proxy's own 503, counted as an overflow; a
    /// retry keeps the failure it follows. A session's pick of its own endpoint stays, full or not.
    /// </summary>
    private static bool WithinEndpointLimit(ProxyCluster cluster, Exchange exchange, int attempt, int perEndpoint)
    {
        var pick = exchange.Pick;
        if (pick.Status != PickStatus.Picked || pick.State!.InFlight <= perEndpoint
            || (attempt == 0 && pick.Endpoint!.AffinityKey == exchange.SessionKey))
        {
            return true;
        }

        pick.Release();
        exchange.Pick = cluster.Balancer.PickExcluding(exchange.Tried.Items, perEndpoint);
        if (exchange.Pick.HasEndpoint)
        {
            return true;
        }

        if (attempt == 0)
        {
            exchange.Last = AttemptOutcome.Fail(UpstreamError.Overflow, StatusCodes.Status503ServiceUnavailable, "every endpoint is at its limit of concurrent requests");
            cluster.Metrics.Error(UpstreamError.Overflow);
        }

        return false;
    }

    /// <summary>The endpoint the session names while it is usable; otherwise a pick as any, counted as a session moved.</summary>
    private static PickResult PickSession(ProxyCluster cluster, ulong session, PickContext context)
    {
        var pick = cluster.Balancer.PickAffinity(session);
        if (pick.HasEndpoint)
        {
            return pick;
        }

        cluster.Metrics.SessionMoved();
        return cluster.Balancer.Pick(in context);
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
            // The algorithm keeps choosing what was tried (a heavy weight, a hash key): take any other endpoint.
            pick.Release();
            return balancer.PickExcluding(tried.Items);
        }

        return pick;
    }
}
