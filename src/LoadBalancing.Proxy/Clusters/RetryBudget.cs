using LoadBalancing.Proxy.Forwarding;

namespace LoadBalancing.Proxy.Clusters;

/// <summary>
/// Retries in flight to one cluster, bounded by a share of its requests in flight (Envoy's retry budget): when every
/// endpoint fails, retries cannot multiply the load an outage already puts on the cluster.
/// </summary>
internal sealed class RetryBudget
{
    private int _active;

    public int Active => Volatile.Read(ref _active);

    /// <summary>Takes a slot for one retry; false when the budget is spent.</summary>
    public bool TryEnter(RetryPolicy policy, long requestsInFlight)
    {
        var limit = Math.Max(policy.MinRetryConcurrency, (int)(policy.BudgetRatio * requestsInFlight));
        while (true)
        {
            var active = Volatile.Read(ref _active);
            if (active >= limit)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _active, active + 1, active) == active)
            {
                return true;
            }
        }
    }

    public void Exit(int slots)
    {
        if (slots > 0)
        {
            Interlocked.Add(ref _active, -slots);
        }
    }
}
