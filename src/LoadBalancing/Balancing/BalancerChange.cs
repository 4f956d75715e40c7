namespace LoadBalancing;

/// <summary>What changed in a balancer (see <see cref="Balancer.Changed"/>).</summary>
public enum BalancerChangeKind
{
    /// <summary>Outlier detection ejected an endpoint.</summary>
    EndpointEjected,

    /// <summary>An ejected endpoint's ejection ran out and it takes traffic again.</summary>
    EndpointReturned,

    /// <summary>Too few endpoints are healthy: the balancer spreads traffic over every eligible one, ejected or actively unhealthy or not.</summary>
    PanicEntered,

    /// <summary>Enough endpoints are healthy again: ejected and actively unhealthy ones no longer get traffic.</summary>
    PanicLeft,

    /// <summary>An endpoint was reported actively unhealthy (<see cref="Balancer.SetHealth"/>): it takes no traffic until reported healthy.</summary>
    EndpointUnhealthy,

    /// <summary>An actively unhealthy endpoint (or one not yet reported, with <see cref="BalancerOptions.AssumeHealthy"/> off) was reported healthy.</summary>
    EndpointHealthy,
}

/// <summary>One change of a balancer's view of its endpoints, for logs and admin views.</summary>
public sealed class BalancerChange
{
    internal BalancerChange(BalancerChangeKind kind, DateTimeOffset at, BackendEndpoint? endpoint, string? reason, DateTimeOffset? until)
    {
        Kind = kind;
        At = at;
        Endpoint = endpoint;
        Reason = reason;
        Until = until;
    }

    /// <summary>What changed.</summary>
    public BalancerChangeKind Kind { get; }

    /// <summary>When.</summary>
    public DateTimeOffset At { get; }

    /// <summary>The endpoint ejected, returned, or turned unhealthy or healthy; <c>null</c> for panic mode changes.</summary>
    public BackendEndpoint? Endpoint { get; }

    /// <summary>
    /// Why: the ejection's cause, the reason given with a health report (for example <c>HTTP 503</c>), or the health
    /// count behind a panic mode change; <c>null</c> for a return from ejection.
    /// </summary>
    public string? Reason { get; }

    /// <summary>Until when an ejected endpoint stays out; <c>null</c> otherwise.</summary>
    public DateTimeOffset? Until { get; }
}
