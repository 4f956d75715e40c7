using System.Diagnostics.Metrics;

namespace LoadBalancing.Proxy.Metrics;

/// <summary>
/// A fixed-bucket latency histogram updated with one interlocked increment per observation, for /metrics; each
/// observation also goes to the meter's histogram instrument while a listener has enabled it.
/// </summary>
internal sealed class LatencyHistogram(Histogram<double> instrument, string cluster)
{
    /// <summary>Upper bounds in seconds, Prometheus' default buckets plus 1 ms and 2.5 ms for a fast upstream.</summary>
    public static readonly double[] BoundsSeconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private static readonly long[] BoundsTicks = BoundsSeconds.Select(s => (long)(s * TimeSpan.TicksPerSecond)).ToArray();

    private readonly long[] _counts = new long[BoundsSeconds.Length + 1];
    private readonly KeyValuePair<string, object?> _clusterTag = new("cluster", cluster);
    private long _sumTicks;

    /// <summary>Records one observation.</summary>
    public void Record(TimeSpan elapsed)
    {
        var elapsedTicks = elapsed.Ticks;
        var i = 0;
        var bounds = BoundsTicks;
        while (i < bounds.Length && elapsedTicks > bounds[i])
        {
            i++;
        }

        Interlocked.Increment(ref _counts[i]);
        Interlocked.Add(ref _sumTicks, elapsedTicks);

        // Without a listener this check is the whole cost; the one-tag overload records without allocating.
        if (instrument.Enabled)
        {
            instrument.Record(elapsed.TotalSeconds, _clusterTag);
        }
    }

    /// <summary>A consistent-enough copy for exposition: cumulative counts per bucket, +Inf last.</summary>
    public (long[] Cumulative, double SumSeconds) Snapshot()
    {
        var cumulative = new long[_counts.Length];
        long running = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            running += Volatile.Read(ref _counts[i]);
            cumulative[i] = running;
        }

        return (cumulative, Volatile.Read(ref _sumTicks) / (double)TimeSpan.TicksPerSecond);
    }
}
