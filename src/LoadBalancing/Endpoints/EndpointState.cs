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
    // The counters every request writes (in-flight, the latency estimate) are kept per thread
    // stripe, each stripe on its own cache lines: a request writes only its own thread's stripe, so
    // two cores picking the same endpoint never fight over one line. Readers sum the stripes.
    private readonly CoreStripe[] _stripes = new CoreStripe[CoreStripes.Count];

    // Written only on failures, read on every completion: alone on its lines so the read stays a hit.
    private PaddedInt _consecutiveFailures;

    private long _ejectedUntilUtcTicks;
    private long _lastFailureUtcTicks;
    private long _lastEjectionEndUtcTicks;
    private int _ejectionCount;

    internal EndpointState(DateTimeOffset firstSeen, bool initialMember)
    {
        FirstSeen = firstSeen;
        InitialMember = initialMember;
    }

    /// <summary>When this endpoint first appeared in its source.</summary>
    public DateTimeOffset FirstSeen { get; }

    /// <summary>Whether the endpoint was in the source's first set (such endpoints get no slow start).</summary>
    internal bool InitialMember { get; }

    /// <summary>Requests picked for this endpoint and not yet completed.</summary>
    public int InFlight
    {
        get
        {
            var sum = 0;
            var stripes = _stripes;
            for (var i = 0; i < stripes.Length; i++)
            {
                sum += Volatile.Read(ref stripes[i].InFlight);
            }

            return sum;
        }
    }

    /// <summary>Consecutive failed requests since the last success.</summary>
    public int ConsecutiveFailures => Volatile.Read(ref _consecutiveFailures.Value);

    /// <summary>How many times outlier detection has ejected this endpoint (drives the growing backoff).</summary>
    public int EjectionCount => Volatile.Read(ref _ejectionCount);

    /// <summary>
    /// The peak-EWMA latency estimate most recently stored by any thread stripe, or <c>null</c> before the
    /// first sample. (Each stripe keeps its own estimate from the requests its threads complete.)
    /// </summary>
    public TimeSpan? LatencyEstimate
    {
        get
        {
            long latest = 0;
            foreach (ref var stripe in _stripes.AsSpan())
            {
                var packed = Volatile.Read(ref stripe.Ewma);
                if (packed != 0 && (latest == 0 || (int)(PeakEwma.Stamp(packed) - PeakEwma.Stamp(latest)) > 0))
                {
                    latest = packed;
                }
            }

            return PeakEwma.Estimate(latest);
        }
    }

    /// <summary>Counts a request in flight on this thread's stripe.</summary>
    internal void AddInFlight() => Interlocked.Increment(ref _stripes[CoreStripes.Current].InFlight);

    /// <summary>Counts a request done on this thread's stripe (the sum over stripes is what counts).</summary>
    internal void RemoveInFlight() => Interlocked.Decrement(ref _stripes[CoreStripes.Current].InFlight);

    /// <summary>This thread's stripe's latency estimate word (see <see cref="PeakEwma"/>).</summary>
    internal ref long CurrentEwma => ref _stripes[CoreStripes.Current].Ewma;

    internal ref int ConsecutiveFailuresCell => ref _consecutiveFailures.Value;

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
    internal void Eject(DateTimeOffset now, TimeSpan baseTime, TimeSpan maxTime)
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
        Volatile.Write(ref _consecutiveFailures.Value, 0);
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
        return true;
    }

    /// <summary>One stripe's counters; 128 bytes apart so no two stripes ever share a cache line.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct CoreStripe
    {
        [FieldOffset(0)] public int InFlight;
        [FieldOffset(8)] public long Ewma;
    }

    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct PaddedInt
    {
        [FieldOffset(64)] public int Value;
    }
}
