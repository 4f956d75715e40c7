namespace LoadBalancing.Internal;

internal static class RandomExtensions
{
    /// <summary>
    /// A random 64-bit value over the whole range. <see cref="Random.NextInt64()"/> gives 63 bits;
    /// multiplying by an odd constant is a bijection that spreads them over all 64, so a random
    /// key reaches every part of a hash ring.
    /// </summary>
    public static ulong NextUInt64(this Random random) => unchecked((ulong)random.NextInt64() * 0x9E3779B97F4A7C15UL);
}
