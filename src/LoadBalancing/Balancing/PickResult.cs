namespace LoadBalancing;

/// <summary>What a pick produced.</summary>
public enum PickStatus
{
    /// <summary>No endpoint is usable and no fallback is configured.</summary>
    NoEndpoint,

    /// <summary>An endpoint of the current snapshot was picked.</summary>
    Picked,

    /// <summary>No endpoint was usable; the configured last-resort fallback was returned.</summary>
    Fallback,
}

/// <summary>
/// The outcome of <see cref="Balancer.Pick(in PickContext)"/>. When an endpoint was returned, call
/// <see cref="Complete(bool, TimeSpan)"/> exactly once when the request ends, so in-flight counts,
/// latency estimates and outlier detection learn from it.
/// </summary>
public readonly struct PickResult
{
    private readonly Balancer? _owner;
    private readonly OutlierState? _outlier;

    internal PickResult(Balancer owner, BackendEndpoint endpoint, EndpointState state, OutlierState outlier, PickStatus status)
    {
        _owner = owner;
        Endpoint = endpoint;
        State = state;
        _outlier = outlier;
        Status = status;
    }

    /// <summary>What the pick produced.</summary>
    public PickStatus Status { get; }

    /// <summary>The endpoint to send the request to, or <c>null</c> when <see cref="Status"/> is <see cref="PickStatus.NoEndpoint"/>.</summary>
    public BackendEndpoint? Endpoint { get; }

    /// <summary>The endpoint's live state, or <c>null</c> when there is no endpoint.</summary>
    public EndpointState? State { get; }

    /// <summary>Whether an endpoint (picked or fallback) was returned.</summary>
    public bool HasEndpoint => Endpoint is not null;

    /// <summary>Reports how the request went. Call once per pick that returned an endpoint.</summary>
    /// <param name="success">Whether the endpoint served the request (connect and response without a server error).</param>
    /// <param name="latency">How long the endpoint took (for example to the response headers); feeds peak-EWMA.</param>
    public void Complete(bool success, TimeSpan latency)
    {
        if (_owner is not null && _outlier is not null)
        {
            _owner.Complete(State!, _outlier, success, latency, Status == PickStatus.Fallback);
        }
    }

    /// <summary>
    /// Gives the pick back without an outcome: the in-flight count drops, nothing is learnt. For a pick
    /// that is not used, for example when a retry wants a different endpoint than this one.
    /// </summary>
    public void Release()
    {
        if (_owner is not null && _outlier is not null)
        {
            _owner.Release(State!, _outlier, Status == PickStatus.Fallback);
        }
    }
}
