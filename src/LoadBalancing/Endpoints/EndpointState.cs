using System.Runtime.InteropServices;
using LoadBalancing.Internal;

namespace LoadBalancing;

/// <summary>
/// The live counters of one endpoint: requests in flight, the peak-EWMA latency estimate,
/// consecutive failures and ejection. Keyed by endpoint identity, it survives snapshot swaps:
/// an endpoint that stays across an update keeps its counters. Every member is safe to read
/// from any thread; values are a moment's view.
/// </summary>
public sealed class EndpointState
{
    // The counters every request writes sit alone on their cache lines, so two endpoints
    // allocated side by side do not slow each other's threads down (false sharing).
    private HotCounters _hot;

    private long _ejectedUntilUtcTicks;
    private long _lastFailureUtcTicks;
    private long _lastEjectionEndUtcTicks;
    private int _ejectionCount;
    private int _totalEjections;
    private long _lastEjectedUtcTicks;
    private long _lastStateChangeUtcTicks;
    private string? _lastEjectionReason;

    internal EndpointState(DateTimeOffset firstSeen, bool initialMember)
    {
        FirstSeen = firstSeen;
        InitialMember = initialMember;
        _lastStateChangeUtcTicks = firstSeen.UtcTicks;
    }

    /// <summary>When this endpoint first appeared in its source.</summary>
    public DateTimeOffset FirstSeen { get; }

    /// <summary>Whether the endpoint was in the source's first set (such endpoints get no slow start).</summary>
    internal bool InitialMember { get; }

    /// <summary>Requests picked for this endpoint and not yet completed.</summary>
    public int InFlight => Volatile.Read(ref _hot.InFlight);

    /// <summary>Consecutive failed requests since the last success.</summary>
    public int ConsecutiveFailures => Volatile.Read(ref _hot.ConsecutiveFailures);

    /// <summary>How many times outlier detection has ejected this endpoint (drives the growing backoff).</summary>
    public int EjectionCount => Volatile.Read(ref _ejectionCount);

    /// <summary>How many times outlier detection has ejected this endpoint since it joined (never forgiven).</summary>
    public int TotalEjections => Volatile.Read(ref _totalEjections);

    /// <summary>When outlier detection last ejected this endpoint, or <c>null</c> if it never has.</summary>
    public DateTimeOffset? LastEjected
    {
        get
        {
            var ticks = Volatile.Read(ref _lastEjectedUtcTicks);
            return ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
        }
    }

    /// <summary>Why the endpoint was last ejected (for example <c>5 consecutive failures</c>), or <c>null</c> if it never was.</summary>
    public string? LastEjectionReason => Volatile.Read(ref _lastEjectionReason);

    /// <summary>When the endpoint last joined, was ejected or returned to service.</summary>
    public DateTimeOffset LastStateChange => new(Volatile.Read(ref _lastStateChangeUtcTicks), TimeSpan.Zero);

    /// <summary>The peak-EWMA latency estimate as last stored, or <c>null</c> before the first sample.</summary>
    public TimeSpan? LatencyEstimate => PeakEwma.Estimate(Volatile.Read(ref _hot.Ewma));

    internal void AddInFlight() => Interlocked.Increment(ref _hot.InFlight);

    internal void RemoveInFlight() => Interlocked.Decrement(ref _hot.InFlight);

    /// <summary>The latency estimate word (see <see cref="PeakEwma"/>).</summary>
    internal ref long CurrentEwma => ref _hot.Ewma;

    internal ref int ConsecutiveFailuresCell => ref _hot.ConsecutiveFailures;

    /// <summary>Until when outlier detection has ejected the endpoint, or <c>null</c> when it is not ejected.</summary>
    public DateTimeOffset? EjectedUntil
    {
        get
        {
            var ticks = Volatile.Read(ref _ejectedUntilUtcTicks);
            return ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
        }
    }

    /// <summary>When a request to the endpoint last failed, or <c>null</c> if none has.</summary>
    public DateTimeOffset? LastFailure
    {
        get
        {
            var ticks = Volatile.Read(ref _lastFailureUtcTicks);
            return ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
        }
    }

    internal bool IsEjectedAt(DateTimeOffset now)
    {
        var until = Volatile.Read(ref _ejectedUntilUtcTicks);
        return until != 0 && until > now.UtcTicks;
    }

    internal long EjectedUntilUtcTicks => Volatile.Read(ref _ejectedUntilUtcTicks);

    internal void RecordFailureTime(DateTimeOffset now) => Volatile.Write(ref _lastFailureUtcTicks, now.UtcTicks);

    /// <summary>Ejects the endpoint; the caller holds the balancer's build lock.</summary>
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
        Volatile.Write(ref _hot.ConsecutiveFailures, 0);
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

    /// <summary>The fields every request touches, with a cache line of padding on both sides.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private struct HotCounters
    {
        [FieldOffset(64)] public int InFlight;
        [FieldOffset(68)] public int ConsecutiveFailures;
        [FieldOffset(72)] public long Ewma;
    }
}
