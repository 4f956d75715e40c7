namespace LoadBalancing.Internal;

/// <summary>
/// Which stripe the current thread uses for counters that every request writes (endpoint
/// in-flight counts and latency estimates, round-robin cursors), so that threads running at the
/// same time write different cache lines.
/// Each thread is given a stripe in turn the first time it asks. (The processor id would be the
/// natural key, but <see cref="Thread.GetCurrentProcessorId"/> is not reliable everywhere: on some
/// virtual machines it reports the same processor for every thread.) A power of two at least the
/// processor count, capped at 8 stripes so a large machine costs at most 1 KiB per endpoint;
/// threads beyond that share stripes — still correct, since every update is interlocked and
/// readers sum the stripes.
/// </summary>
internal static class CoreStripes
{
    public static readonly int Count = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(Environment.ProcessorCount, 1, 8));

    private static readonly int Mask = Count - 1;
    private static int _assigned;

    [ThreadStatic]
    private static int t_stripePlusOne;

    public static int Current
    {
        get
        {
            var stripe = t_stripePlusOne;
            return stripe != 0 ? stripe - 1 : Assign();
        }
    }

    private static int Assign()
    {
        var stripe = (Interlocked.Increment(ref _assigned) - 1) & Mask;
        t_stripePlusOne = stripe + 1;
        return stripe;
    }
}
