using System.Diagnostics;
using System.IO.Hashing;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LoadBalancing.Algorithms;

/// <summary>
/// Maglev consistent hashing (Eisenbud et al., NSDI 2016, pseudocode listing 1) with Envoy's
/// weighted population, so the table is identical to Envoy's for the same hash keys, weights and
/// size. Endpoints are ordered by hash key (UTF-8 bytes); each has offset
/// <c>xxHash64(key) mod M</c> and skip <c>xxHash64(key, seed 1) mod (M − 1) + 1</c>. The table
/// stores each slot's endpoint index in the narrowest integer that holds it: one byte for up to 256
/// endpoints, two for up to 65,536, four beyond.
/// </summary>
internal sealed class MaglevPicker : HashPicker
{
    private readonly byte[]? _narrow;
    private readonly ushort[]? _compact;
    private readonly int[]? _wide;
    private readonly ulong _size;
    private readonly ulong _reciprocal; // ⌊(2^64 − 1) / M⌋, for the modulo without a division

    public MaglevPicker(in PickerInput input)
        : base(input)
    {
        _size = (ulong)input.Options.Maglev.TableSize;
        _reciprocal = ulong.MaxValue / _size;
        if (input.Count == 0)
        {
            return;
        }

        var table = BuildTable(input.Endpoints, input.Weights, input.Options.Maglev.TableSize);
        _narrow = table as byte[];
        _compact = table as ushort[];
        _wide = table as int[];
    }

    public override int Lookup(ulong hash)
    {
        var slot = (int)Mod(hash, _size, _reciprocal);
        if (_narrow is not null)
        {
            return _narrow[slot];
        }

        if (_compact is not null)
        {
            return _compact[slot];
        }

        return _wide is null ? -1 : _wide[slot];
    }

    /// <summary>The table as endpoint indexes (for tests and measurements).</summary>
    internal int[] Table => Indexes((Array?)_narrow ?? (Array?)_compact ?? _wide);

    /// <summary>The table as endpoint indexes, whatever its storage (for tests).</summary>
    internal static int[] Build(BackendEndpoint[] endpoints, double[] weights, int tableSize) =>
        Indexes(BuildTable(endpoints, weights, tableSize));

    /// <summary>A copy of a table as <c>int</c> indexes, whatever its storage.</summary>
    private static int[] Indexes(Array? table) => table switch
    {
        byte[] narrow => Array.ConvertAll(narrow, static v => (int)v),
        ushort[] compact => Array.ConvertAll(compact, static v => (int)v),
        int[] wide => (int[])wide.Clone(),
        _ => [],
    };

    /// <summary>
    /// Builds the table in its final storage: <c>byte[]</c> for up to 256 endpoints, <c>ushort[]</c> for
    /// up to 65,536, <c>int[]</c> beyond. Narrower is a smaller cache footprint for every pick, and at the
    /// default size (M = 65537) a byte table (64 KiB) stays below the large-object threshold: it is
    /// allocated in the young generation, where a 128 KiB table goes to the large-object heap, which only
    /// full collections reclaim (a benchmark rebuilding 16-bit tables ran 37 gen2 collections per 1,000
    /// builds; with byte tables, none).
    /// </summary>
    internal static Array BuildTable(BackendEndpoint[] endpoints, double[] weights, int tableSize) =>
        endpoints.Length switch
        {
            <= byte.MaxValue + 1 => BuildTable<byte>(endpoints, weights, tableSize),
            <= ushort.MaxValue + 1 => BuildTable<ushort>(endpoints, weights, tableSize),
            _ => BuildTable<int>(endpoints, weights, tableSize),
        };

    private static T[] BuildTable<T>(BackendEndpoint[] endpoints, double[] weights, int tableSize)
        where T : unmanaged, IBinaryInteger<T>
    {
        var normalized = Normalize(weights, out var minWeight, out var maxWeight);
        var equal = minWeight == maxWeight;
        var n = endpoints.Length;

        // Envoy fills in hash-key order, so the table does not depend on the order hosts arrived in.
        var order = HashKeyOrder(endpoints);

        var m = (uint)tableSize;
        var position = new uint[n]; // (offset + skip × next) mod M, advanced by adding skip
        var skip = new uint[n];
        for (var k = 0; k < n; k++)
        {
            var key = endpoints[order[k]].HashKeyUtf8;
            position[k] = (uint)(XxHash64.HashToUInt64(key) % m);
            skip[k] = (uint)(XxHash64.HashToUInt64(key, 1) % (m - 1)) + 1;
        }

        var table = new T[tableSize];
        var occupied = new ulong[(tableSize + 63) >> 6];
        var turns = equal ? new Turns(n) : new Turns(n, WeightsInOrder(normalized, order), maxWeight);

        // Most probes fall in the last few hundred fills, when almost every slot is taken. From there
        // on each endpoint's next free slot is found directly among the few free ones (see
        // NextFreeSlot): the same slot probing would reach, so the table does not change.
        var probed = Math.Max(0, tableSize - TailLength(m));
        Probe(table, occupied, position, skip, order, ref turns, probed, m);
        if (probed < tableSize)
        {
            FillTail(table, FreeSlots(occupied, m, tableSize - probed), position, skip, order, ref turns, m);
        }

        return table;
    }

    /// <summary>
    /// Fills the first <paramref name="count"/> slots by walking each endpoint's permutation to its
    /// next free slot. Its own method so the loop keeps its state in registers: probing is the cost
    /// (about M·ln M probes as the table fills), and occupancy is tested in a bitmap that stays in L1
    /// (8 KiB at M = 65537) rather than in the table.
    /// </summary>
    private static void Probe<T>(T[] table, ulong[] occupied, uint[] position, uint[] skip, int[] order, ref Turns turns, int count, uint m)
        where T : unmanaged, IBinaryInteger<T>
    {
        var local = turns;
        for (var filled = 0; filled < count; filled++)
        {
            var k = local.Next();
            var step = skip[k];
            var c = position[k];
            while (IsSet(occupied, c))
            {
                c = Advance(c, step, m);
            }

            occupied[c >> 6] |= 1UL << (int)(c & 63);
            table[c] = T.CreateTruncating(order[k]);
            position[k] = Advance(c, step, m);
        }

        turns = local;
    }

    /// <summary>Fills the last free slots, each endpoint's next one found directly (see <see cref="NextFreeSlot"/>).</summary>
    private static void FillTail<T>(T[] table, uint[] free, uint[] position, uint[] skip, int[] order, ref Turns turns, uint m)
        where T : unmanaged, IBinaryInteger<T>
    {
        var reciprocal = ulong.MaxValue / m;
        var inverseSkip = new uint[position.Length];
        var freeCount = free.Length;
        while (freeCount > 0)
        {
            var k = turns.Next();
            var step = skip[k];
            if (inverseSkip[k] == 0)
            {
                inverseSkip[k] = InverseModPrime(step, m);
            }

            var c = NextFreeSlot(free, ref freeCount, position[k], inverseSkip[k], m, reciprocal);
            table[c] = T.CreateTruncating(order[k]);
            position[k] = Advance(c, step, m);
        }
    }

    private static double[] WeightsInOrder(double[] normalized, int[] order)
    {
        var inOrder = new double[order.Length];
        for (var k = 0; k < order.Length; k++)
        {
            inOrder[k] = normalized[order[k]];
        }

        return inOrder;
    }

    /// <summary>
    /// Whose turn it is to take a slot: endpoints in hash-key order, round after round. An endpoint of
    /// the largest weight takes a slot every round, one of a third of it every third round (Envoy's
    /// weighted population); with equal weights every endpoint takes one every round, with no test.
    /// </summary>
    private struct Turns
    {
        private readonly int _count;
        private readonly double[]? _weights; // by turn order; null when all are equal
        private readonly double[]? _target;
        private readonly double _maxWeight;
        private uint _round;
        private int _next;

        public Turns(int count)
        {
            _count = count;
            _round = 1;
        }

        public Turns(int count, double[] weights, double maxWeight)
            : this(count)
        {
            _weights = weights;
            _target = new double[count];
            _maxWeight = maxWeight;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Next()
        {
            while (true)
            {
                var k = _next;
                var round = _round;
                if (++_next == _count)
                {
                    _next = 0;
                    _round++;
                }

                if (_weights is null)
                {
                    return k;
                }

                if (round * _weights[k] >= _target![k])
                {
                    _target[k] += _maxWeight;
                    return k;
                }
            }
        }
    }

    /// <summary>
    /// How many free slots are left when direct search takes over from probing. With F slots free a
    /// probe sequence needs about M / F probes and a direct search F modular products, of similar
    /// cost each, but a search costs about four probes per slot: they break even near F = √M / 2.
    /// </summary>
    private static int TailLength(uint m) => (int)Math.Sqrt(m) / 2;

    /// <summary>
    /// The first free slot along an endpoint's permutation from <paramref name="position"/>, found
    /// without walking it: slot s lies (s − position) · skip⁻¹ mod M steps ahead (M is prime, so
    /// every skip is invertible). The nearest free slot is the one probing would have stopped at.
    /// Removes it from <paramref name="free"/>.
    /// </summary>
    private static uint NextFreeSlot(uint[] free, ref int count, uint position, uint inverseSkip, uint m, ulong reciprocal)
    {
        var best = 0;
        var bestDistance = ulong.MaxValue;
        for (var i = 0; i < count; i++)
        {
            var s = free[i];
            ulong delta = s >= position ? s - position : s + m - position;
            var product = delta * inverseSkip;
            var distance = Mod(product, m, reciprocal);

            if (distance < bestDistance)
            {
                bestDistance = distance;
                best = i;
            }
        }

        var slot = free[best];
        free[best] = free[--count];
        return slot;
    }

    private static uint[] FreeSlots(ulong[] occupied, uint m, int count)
    {
        var free = new uint[count];
        var found = 0;
        for (var w = 0; w < occupied.Length; w++)
        {
            var vacant = ~occupied[w];
            while (vacant != 0)
            {
                var c = (uint)((w << 6) + BitOperations.TrailingZeroCount(vacant));
                if (c >= m)
                {
                    break; // the last word's bits beyond M
                }

                free[found++] = c;
                vacant &= vacant - 1;
            }
        }

        return free;
    }

    /// <summary>
    /// x mod m through a multiply-high by <paramref name="reciprocal"/> = ⌊(2^64 − 1) / m⌋: the quotient
    /// estimate is at most 2 short, so at most two subtractions finish it — several times cheaper than a
    /// 64-bit division.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mod(ulong x, ulong m, ulong reciprocal)
    {
        var remainder = x - (Math.BigMul(x, reciprocal, out _) * m);
        while (remainder >= m)
        {
            remainder -= m;
        }

        return remainder;
    }

    /// <summary>a⁻¹ mod p for prime p and 0 &lt; a &lt; p (extended Euclid).</summary>
    internal static uint InverseModPrime(uint a, uint p)
    {
        long t = 0, newT = 1;
        long r = p, newR = a;
        while (newR != 0)
        {
            var q = r / newR;
            (t, newT) = (newT, t - (q * newT));
            (r, newR) = (newR, r - (q * newR));
        }

        return (uint)(t < 0 ? t + p : t);
    }

    /// <summary>
    /// (c + step) mod M without a conditional jump. Along a permutation the wrap comes with
    /// probability step / M in no pattern a branch predictor can learn, and as a jump it cost about
    /// 15 % of a build (measured); M ≤ <see cref="MaglevOptions.MaxTableSize"/> keeps c + step well
    /// inside 31 bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Advance(uint c, uint step, uint m)
    {
        var past = c + (step - m); // negative as an int unless the position wrapped
        return past + (m & (uint)((int)past >> 31));
    }

    /// <summary>
    /// Whether slot <paramref name="i"/> is taken. Every position is reduced modulo M and the bitmap
    /// has ⌈M / 64⌉ words, so the index is always in range: the probe loop, the build's hottest, skips
    /// the bounds check.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsSet(ulong[] bits, uint i)
    {
        Debug.Assert(i >> 6 < (uint)bits.Length);
        var word = Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(bits), (int)(i >> 6));
        return (word & (1UL << (int)(i & 63))) != 0;
    }
}
