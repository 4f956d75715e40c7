using LoadBalancing.Internal;

namespace LoadBalancing;

/// <summary>
/// What one balancer's outlier detection knows of one endpoint: consecutive failures, ejections and their backoff.
/// Each balancer keeps its own (from <see cref="Balancer.GetOutlierState"/>), so two balancers over one source, with
/// different outlier settings or none, never eject for each other; the state lives as long as the endpoint stays in
/// the source. Every member is safe to read from any thread; values are a moment's view.
/// </summary>
public sealed class OutlierState
{
    // Failures write this counter and successes read it only while some endpoint of the balancer has a failure run
    // going, so it needs no cache line of its own (unlike EndpointState's in-flight counter): a record costs about
    // 100 bytes, which matters over 1,000 endpoints.
    private int _consecutiveFailures;
    private long _ejectedUntilUtcTicks;
    private long _lastFailureUtcTicks;
    private long _lastEjectionEndUtcTicks;
    private int _ejectionCount;
    private int _totalEjections;
    private long _lastEjectedUtcTicks;
    private long _lastStateChangeUtcTicks;
    private string? _lastEjectionReason;

    internal OutlierState(EndpointState state, LoadCounter? boundedLoad = null)
    {
        State = state;
        BoundedLoad = boundedLoad;
        _lastStateChangeUtcTicks = state.FirstSeen.UtcTicks;
    }

    /// <summary>The endpoint's shared load state.</summary>
    internal EndpointState State { get; }

    /// <summary>
    /// This balancer's own requests in flight on the endpoint, kept only when it hashes with bounded loads (otherwise
    /// <c>null</c>). A bounded-load cap compares an endpoint's load with the balancer's total, so both must count the
    /// same requests: the endpoint's shared count (<see cref="EndpointState.InFlight"/>) also holds other balancers'
    /// requests over the same source, which the total does not. It lives here because this is the balancer's record of
    /// the endpoint that lasts as long as the endpoint and travels with every pick; never copied by <see cref="CopyFrom"/>.
    /// </summary>
    internal LoadCounter? BoundedLoad { get; }

    /// <summary>Consecutive failed requests since the last success.</summary>
    public int ConsecutiveFailures => Volatile.Read(ref _consecutiveFailures);

    /// <summary>How many times outlier detection has ejected this endpoint (drives the growing backoff).</summary>
    public int EjectionCount => Volatile.Read(ref _ejectionCount);

    /// <summary>How many times outlier detection has ejected this endpoint since it joined (never forgiven).</summary>
    public int TotalEjections => Volatile.Read(ref _totalEjections);

    /// <summary>When outlier detection last ejected this endpoint, or <c>null</c> if it never has.</summary>
    public DateTimeOffset? LastEjected => AsTime(Volatile.Read(ref _lastEjectedUtcTicks));

    /// <summary>Why the endpoint was last ejected (for example <c>5 consecutive failures</c>), or <c>null</c> if it never was.</summary>
    public string? LastEjectionReason => Volatile.Read(ref _lastEjectionReason);

    /// <summary>When the endpoint joined its source, or was last ejected or returned to service.</summary>
    public DateTimeOffset LastStateChange => new(Volatile.Read(ref _lastStateChangeUtcTicks), TimeSpan.Zero);

    /// <summary>Until when outlier detection has ejected the endpoint, or <c>null</c> when it is not ejected.</summary>
    public DateTimeOffset? EjectedUntil => AsTime(Volatile.Read(ref _ejectedUntilUtcTicks));

    /// <summary>When a request to the endpoint last failed, or <c>null</c> if none has.</summary>
    public DateTimeOffset? LastFailure => AsTime(Volatile.Read(ref _lastFailureUtcTicks));

    internal ref int ConsecutiveFailuresCell => ref _consecutiveFailures;

    internal long EjectedUntilUtcTicks => Volatile.Read(ref _ejectedUntilUtcTicks);

    internal bool IsEjectedAt(DateTimeOffset now)
    {
        var until = Volatile.Read(ref _ejectedUntilUtcTicks);
        return until != 0 && until > now.UtcTicks;
    }

    internal void RecordFailureTime(DateTimeOffset now) => Volatile.Write(ref _lastFailureUtcTicks, now.UtcTicks);

    /// <summary>Ejects the endpoint; the caller holds its balancer's build lock and has ended its failure run.</summary>
    internal void Eject(DateTimeOffset now, TimeSpan baseTime, TimeSpan maxTime, string reason)
    {
        // The backoff multiplier forgets past ejections once the endpoint has behaved for a full
        // max ejection time, so one bad hour does not punish it forever.
        var lastEnd = Volatile.Read(ref _lastEjectionEndUtcTicks);
        if (lastEnd != 0 && now.UtcTicks - lastEnd > maxTime.Ticks)
        {
            _ejectionCount = 0;
        }

        var count = ++_ejectionCount;
        var ticks = Math.Min(baseTime.Ticks * (long)count, maxTime.Ticks);
        Volatile.Write(ref _ejectedUntilUtcTicks, now.UtcTicks + Math.Max(ticks, 1));
        Volatile.Write(ref _lastEjectionReason, reason);
        Volatile.Write(ref _lastEjectedUtcTicks, now.UtcTicks);
        Volatile.Write(ref _lastStateChangeUtcTicks, now.UtcTicks);
        Interlocked.Increment(ref _totalEjections);
    }

    /// <summary>Returns the endpoint to service once its ejection has run out; the caller holds the build lock.</summary>
    internal bool TryUneject(DateTimeOffset now)
    {
        var until = Volatile.Read(ref _ejectedUntilUtcTicks);
        if (until == 0 || until > now.UtcTicks)
        {
            return false;
        }

        Volatile.Write(ref _lastEjectionEndUtcTicks, until);
        Volatile.Write(ref _ejectedUntilUtcTicks, 0);
        Volatile.Write(ref _lastStateChangeUtcTicks, now.UtcTicks);
        return true;
    }

    /// <summary>
    /// Takes over another balancer's verdicts on the same endpoint, for a balancer that replaces it; the caller holds
    /// this record's build lock, and <paramref name="other"/> is a moment's view of a record no longer written much.
    /// </summary>
    internal void CopyFrom(OutlierState other)
    {
        Volatile.Write(ref _consecutiveFailures, other.ConsecutiveFailures);
        Volatile.Write(ref _ejectedUntilUtcTicks, Volatile.Read(ref other._ejectedUntilUtcTicks));
        Volatile.Write(ref _lastFailureUtcTicks, Volatile.Read(ref other._lastFailureUtcTicks));
        Volatile.Write(ref _lastEjectionEndUtcTicks, Volatile.Read(ref other._lastEjectionEndUtcTicks));
        Volatile.Write(ref _ejectionCount, other.EjectionCount);
        Volatile.Write(ref _totalEjections, other.TotalEjections);
        Volatile.Write(ref _lastEjectedUtcTicks, Volatile.Read(ref other._lastEjectedUtcTicks));
        Volatile.Write(ref _lastStateChangeUtcTicks, Volatile.Read(ref other._lastStateChangeUtcTicks));
        Volatile.Write(ref _lastEjectionReason, other.LastEjectionReason);
    }

    private static DateTimeOffset? AsTime(long utcTicks) => utcTicks == 0 ? null : new DateTimeOffset(utcTicks, TimeSpan.Zero);
}
