namespace LoadBalancing.Proxy.Metrics;

/// <summary>
/// The <c>code</c> label of the proxy's response counters: the status class (<c>1xx</c> … <c>4xx</c>), except that
/// the 5xx statuses an incident turns on are counted by exact code (<c>500</c>, <c>502</c>, <c>503</c>, <c>504</c>) and
/// the rest of them as <c>5xx</c>; <c>none</c> when no response went out. Counters are arrays indexed by
/// <see cref="Slot"/>, so counting stays one interlocked increment with no look-up and no allocation.
/// </summary>
internal static class StatusCodeLabels
{
    /// <summary>The label value of each slot, in the order the series are exported.</summary>
    public static readonly string[] Names = ["none", "1xx", "2xx", "3xx", "4xx", "500", "502", "503", "504", "5xx"];

    /// <summary>The number of slots: the length of a counter array.</summary>
    public const int Count = 10;

    /// <summary>The slot of "no response" (the client left first, or a status outside 100–599).</summary>
    public const int None = 0;

    /// <summary>The first slot of the 5xx statuses; they run to the end.</summary>
    private const int First5xx = 5;

    /// <summary>The slot a status counts in.</summary>
    public static int Slot(int statusCode) => statusCode switch
    {
        500 => 5,
        502 => 6,
        503 => 7,
        504 => 8,
        >= 500 and <= 599 => 9,
        >= 100 and <= 499 => statusCode / 100,
        _ => None,
    };

    /// <summary>The total of a status class (0: none, 1–5: 1xx–5xx) over a counter array.</summary>
    public static long Class(long[] slots, int statusClass)
    {
        if (statusClass < First5xx)
        {
            return Volatile.Read(ref slots[statusClass]);
        }

        long sum = 0;
        for (var slot = First5xx; slot < Count; slot++)
        {
            sum += Volatile.Read(ref slots[slot]);
        }

        return sum;
    }
}
