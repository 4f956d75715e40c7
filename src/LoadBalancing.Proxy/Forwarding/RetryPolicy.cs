namespace LoadBalancing.Proxy.Forwarding;

/// <summary>What may be retried.</summary>
[Flags]
internal enum RetryConditions
{
    None = 0,

    /// <summary>The TCP connect failed or timed out: the request never reached an upstream, any request may go again.</summary>
    ConnectFailure = 1,

    /// <summary>The connection broke before any byte of a response (replayable requests only).</summary>
    Reset = 2,

    /// <summary>The upstream answered 502 (replayable requests only).</summary>
    Status502 = 4,

    /// <summary>The upstream answered 503 (replayable requests only).</summary>
    Status503 = 8,

    /// <summary>The upstream answered 504 (replayable requests only).</summary>
    Status504 = 16,
}

/// <summary>A route's (or by default a cluster's) retry policy: how many attempts, on which conditions, within what budget.</summary>
internal sealed class RetryPolicy(int maxAttempts, RetryConditions on, double budgetPercent, int minRetryConcurrency)
{
    public static readonly string[] ConditionNames = ["connect-failure", "reset", "502", "503", "504"];

    public int MaxAttempts { get; } = maxAttempts;

    public RetryConditions On { get; } = on;

    /// <summary>Retries in flight may be this fraction of the cluster's requests in flight (0 to 1).</summary>
    public double BudgetRatio { get; } = budgetPercent / 100;

    public int MinRetryConcurrency { get; } = minRetryConcurrency;

    /// <summary>The default: the cluster's attempts, on connect failures and resets, with the default budget.</summary>
    public static RetryPolicy ForCluster(ClusterOptions cluster)
    {
        var defaults = new RetryOptions();
        return new(cluster.MaxAttempts, RetryConditions.ConnectFailure | RetryConditions.Reset, defaults.BudgetPercent, defaults.MinRetryConcurrency);
    }

    public static RetryPolicy FromOptions(RetryOptions options)
    {
        var on = RetryConditions.None;
        foreach (var name in options.On)
        {
            on |= TryParseCondition(name, out var condition) ? condition : RetryConditions.None;
        }

        if (options.On.Count == 0)
        {
            on = RetryConditions.Reset;
        }

        // A connect failure never reached an upstream: retrying it is always safe, and a route that lists only
        // statuses must not lose the retry that carries requests past a dead endpoint.
        on |= RetryConditions.ConnectFailure;

        return new(options.MaxAttempts, on, options.BudgetPercent, options.MinRetryConcurrency);
    }

    public static bool TryParseCondition(string name, out RetryConditions condition)
    {
        var index = Array.FindIndex(ConditionNames, n => string.Equals(n, name?.Trim(), StringComparison.OrdinalIgnoreCase));
        condition = index < 0 ? RetryConditions.None : (RetryConditions)(1 << index);
        return index >= 0;
    }

    /// <summary>Whether a response with this status may be retried (for a replayable request).</summary>
    public bool RetriesStatus(int status) => status switch
    {
        502 => (On & RetryConditions.Status502) != 0,
        503 => (On & RetryConditions.Status503) != 0,
        504 => (On & RetryConditions.Status504) != 0,
        _ => false,
    };
}
