namespace LoadBalancing.Internal;

internal static class RandomExtensions
{
    /// <summary>
    /// A random 64-bit value over the whole range. <see cref="Random.NextInt64()"/> gives 63 bits;
    /// multiplying by an odd constant is a bijection that spreads them over all 64, so a random
    /// key reaches every part of a hash ring.
    /// </summary>
    public static ulong NextUInt64(this Random random) => unchecked((ulong)random.NextInt64() * 0x9E3779B97F4A7C15UL);

    /// <summary>Two distinct indexes in [0, n), n ≥ 2, uniformly.</summary>
    public static (int First, int Second) NextDistinctPair(this Random random, int n)
    {
        // One 64-bit draw, each half scaled into its range by a multiply (Lemire's method, without
        // the rejection step: the bias is below n / 2^32).
        var r = random.NextUInt64();
        var first = (int)(((r >> 32) * (ulong)(uint)n) >> 32);
        var second = (int)(((r & 0xFFFF_FFFFUL) * (ulong)(uint)(n - 1)) >> 32);
        if (second >= first)
        {
            second++;
        }

        return (first, second);
    }
}
