using System.Runtime.CompilerServices;

namespace LoadBalancing.Internal;

/// <summary>
/// The randomness pickers draw from. With the default (<see cref="Random.Shared"/>) it is a
/// per-thread wyrand generator — one thread-static read, one add and one multiply, no virtual
/// call — which matters when a pick is a handful of nanoseconds and two draws. An injected
/// <see cref="Random"/> (seeded, for repeatable tests) is used as given.
/// </summary>
internal readonly struct PickRandom
{
    private readonly Random? _injected;

    public PickRandom(Random random)
    {
        _injected = ReferenceEquals(random, Random.Shared) ? null : random;
    }

    /// <summary>A uniformly random 64-bit value.</summary>
    public ulong NextUInt64() => _injected is null ? ThreadRandom.Next() : _injected.NextUInt64();

    /// <summary>A uniformly random index in [0, n) (Lemire's multiply, bias below n / 2^32).</summary>
    public int Next(int n) => (int)(((NextUInt64() >> 32) * (ulong)(uint)n) >> 32);

    /// <summary>Two distinct indexes in [0, n), n ≥ 2, from one 64-bit draw.</summary>
    public (int First, int Second) NextDistinctPair(int n)
    {
        var r = NextUInt64();
        var first = (int)(((r >> 32) * (ulong)(uint)n) >> 32);
        var second = (int)(((r & 0xFFFF_FFFFUL) * (ulong)(uint)(n - 1)) >> 32);
        if (second >= first)
        {
            second++;
        }

        return (first, second);
    }
}

/// <summary>wyrand (Wang Yi's generator), one state word per thread, seeded from <see cref="Random.Shared"/>.</summary>
internal static class ThreadRandom
{
    [ThreadStatic]
    private static ulong t_state;

    // Inlined into every pick (it was a call); the first draw on a thread seeds out of line.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Next()
    {
        var state = t_state;
        if (state == 0)
        {
            state = Seed();
        }

        state += 0xA0761D6478BD642FUL;
        t_state = state;
        var high = Math.BigMul(state, state ^ 0xE7037ED1A0B428DBUL, out var low);
        return high ^ low;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong Seed() => (ulong)Random.Shared.NextInt64() | 1;
}
