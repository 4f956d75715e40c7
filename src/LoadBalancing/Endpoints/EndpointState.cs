using System.Runtime.InteropServices;
using LoadBalancing.Internal;

namespace LoadBalancing;

/// <summary>
/// The live load signals of one endpoint: requests in flight and the peak-EWMA latency estimate. Keyed by endpoint
/// identity, it survives snapshot swaps: an endpoint that stays across an update keeps its counters. Load is the
/// endpoint's own, so every balancer over the same source shares these; verdicts are each balancer's (outlier
/// detection's in <see cref="OutlierState"/>, active health through <see cref="Balancer.SetHealth"/>), since two
/// balancers over one source may judge differently. Every member is safe to read from any thread; values are a
/// moment's view.
/// </summary>
public sealed class EndpointState
{
    // The counters every request writes sit alone on their cache lines, so two endpoints
    // allocated side by side do not slow each other's threads down (false sharing).
    private HotCounters _hot;

    internal EndpointState(DateTimeOffset firstSeen, bool initialMember)
    {
        FirstSeen = firstSeen;
        InitialMember = initialMember;
    }

    /// <summary>When this endpoint first appeared in its source.</summary>
    public DateTimeOffset FirstSeen { get; }

    /// <summary>Whether the endpoint was in the source's first set (such endpoints get no slow start).</summary>
    internal bool InitialMember { get; }

    /// <summary>Requests picked for this endpoint and not yet completed, by every balancer over its source.</summary>
    public int InFlight => Volatile.Read(ref _hot.InFlight);

    /// <summary>The peak-EWMA latency estimate as last stored, or <c>null</c> before the first sample.</summary>
    public TimeSpan? LatencyEstimate => PeakEwma.Estimate(Volatile.Read(ref _hot.Ewma));

    internal int AddInFlight() => Interlocked.Increment(ref _hot.InFlight);

    internal void RemoveInFlight() => Interlocked.Decrement(ref _hot.InFlight);

    /// <summary>The latency estimate word (see <see cref="PeakEwma"/>).</summary>
    internal ref long CurrentEwma => ref _hot.Ewma;

    /// <summary>The fields every request touches, with a cache line of padding on both sides.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private struct HotCounters
    {
        [FieldOffset(64)] public int InFlight;
        [FieldOffset(72)] public long Ewma;
    }
}
