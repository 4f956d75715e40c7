using LoadBalancing.Proxy.Clusters;
using LoadBalancing.Proxy.Metrics;
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

    /// <summary>
    /// Picks the endpoint of the next attempt into <see cref="Exchange.Pick"/> and records it as tried; false when
    /// there is none left. Affinity applies to the first try; a retry wants any other endpoint. When every endpoint
    /// tried failed before reaching its upstream (or there was none), the fallback is tried once — for example the
    /// Service's ClusterIP while discovery's list is stale.
    /// </summary>
    public static bool TryPickNext(ProxyCluster cluster, Exchange exchange, int attempt, ref bool fallbackTried)
    {
        exchange.Pick = attempt < exchange.Retry.MaxAttempts
            ? PickUntried(cluster.Balancer, attempt == 0 ? exchange.PickContext : PickContext.None, in exchange.Tried)
            : default;
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
