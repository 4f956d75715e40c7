namespace LoadBalancing.Internal;

/// <summary>
/// Which round-robin cursor the current thread advances, so that threads running at the same time
/// advance different cursors (on different cache lines). Each thread is given a stripe in turn the
/// first time it asks. (The processor id would be the natural key, but
/// <see cref="Thread.GetCurrentProcessorId"/> reported processor 0 for every thread on the 2-core VM
/// we measure on.) A power of two at least the processor count, at most 8; threads beyond that share
/// cursors, which stays correct because every advance is interlocked.
/// </summary>
internal static class ThreadStripes
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
