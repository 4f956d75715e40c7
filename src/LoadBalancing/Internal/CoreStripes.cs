namespace LoadBalancing.Internal;

/// <summary>
/// Which per-core stripe the current thread uses for counters that every request writes.
/// A power of two at least the processor count, capped at 8 stripes so that a large machine does
/// not cost more than 1 KiB per endpoint; cores beyond that share stripes (still correct, since
/// every update is interlocked and readers sum the stripes).
/// </summary>
internal static class CoreStripes
{
    public static readonly int Count = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(Environment.ProcessorCount, 1, 8));

    private static readonly int Mask = Count - 1;

    public static int Current => Mask == 0 ? 0 : Thread.GetCurrentProcessorId() & Mask;
}
