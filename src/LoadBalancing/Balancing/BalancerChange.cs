namespace LoadBalancing;

/// <summary>What changed in a balancer (see <see cref="Balancer.Changed"/>).</summary>
public enum BalancerChangeKind
{
    /// <summary>Outlier detection ejected an endpoint.</summary>
    EndpointEjected,

    /// <summary>An ejected endpoint's ejection ran out and it takes traffic again.</summary>
    EndpointReturned,

    /// <summary>Too few endpoints are healthy: the balancer spreads traffic over every eligible one, ejected or not.</summary>
    PanicEntered,

    /// <summary>Enough endpoints are healthy again: ejected ones no longer get traffic.</summary>
    PanicLeft,
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

    /// <summary>The endpoint ejected or returned; <c>null</c> for panic mode changes.</summary>
    public BackendEndpoint? Endpoint { get; }

    /// <summary>Why: the ejection's cause, or the health count behind a panic mode change; <c>null</c> for a return.</summary>
    public string? Reason { get; }

    /// <summary>Until when an ejected endpoint stays out; <c>null</c> otherwise.</summary>
    public DateTimeOffset? Until { get; }
}
