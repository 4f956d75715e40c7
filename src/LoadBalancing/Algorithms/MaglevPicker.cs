using System.IO.Hashing;

namespace LoadBalancing.Algorithms;

/// <summary>
/// Maglev consistent hashing (Eisenbud et al., NSDI 2016, pseudocode listing 1) with Envoy's
/// weighted population, so the table is identical to Envoy's for the same hash keys, weights and
/// size. Endpoints are ordered by hash key (UTF-8 bytes); each has offset
/// <c>xxHash64(key) mod M</c> and skip <c>xxHash64(key, seed 1) mod (M − 1) + 1</c>. The table
/// stores 16-bit endpoint indexes when there are fewer than 65,536 endpoints.
/// </summary>
internal sealed class MaglevPicker : HashPicker
{
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

        var table = Build(input.Endpoints, input.Weights, input.Options.Maglev.TableSize);
        if (input.Count <= ushort.MaxValue)
        {
            _compact = new ushort[table.Length];
            for (var i = 0; i < table.Length; i++)
            {
                _compact[i] = (ushort)table[i];
            }
        }
        else
        {
            _wide = table;
        }
    }

    public override int Lookup(ulong hash)
    {
        // hash mod M through a multiply-high: the quotient estimate is at most 2 short, so at most
        // two subtractions finish it — several times cheaper than a 64-bit division.
        var remainder = hash - (Math.BigMul(hash, _reciprocal, out _) * _size);
        while (remainder >= _size)
        {
            remainder -= _size;
        }

        var slot = (int)remainder;
        if (_compact is not null)
        {
            return _compact[slot];
        }

        return _wide is null ? -1 : _wide[slot];
    }

    /// <summary>The table as endpoint indexes (for tests and measurements).</summary>
    internal int[] Table
    {
        get
        {
            if (_wide is not null)
            {
                return _wide;
            }

            return _compact is null ? [] : Array.ConvertAll(_compact, static v => (int)v);
        }
    }

    internal static int[] Build(Endpoint[] endpoints, double[] weights, int tableSize)
    {
        var normalized = Normalize(weights, out _, out var maxWeight);
        var n = endpoints.Length;

        // Envoy fills in hash-key order, so the table does not depend on the order hosts arrived in.
        var order = new int[n];
        for (var i = 0; i < n; i++)
        {
            order[i] = i;
        }

        Array.Sort(order, (a, b) => endpoints[a].HashKeyUtf8.SequenceCompareTo(endpoints[b].HashKeyUtf8));

        var m = (uint)tableSize;
        var position = new uint[n]; // (offset + skip × next) mod M, advanced by adding skip
        var skip = new uint[n];
        var target = new double[n];
        for (var k = 0; k < n; k++)
        {
            var key = endpoints[order[k]].HashKeyUtf8;
            position[k] = (uint)(XxHash64.HashToUInt64(key) % m);
            skip[k] = (uint)(XxHash64.HashToUInt64(key, 1) % (m - 1)) + 1;
        }

        // Probing is the cost (about M·ln M probes as the table fills): test occupancy in a bitmap
        // that stays in L1 (8 KiB at M = 65537) rather than in the 256 KiB table.
        var table = new int[tableSize];
        var occupied = new ulong[(tableSize + 63) >> 6];
        var filled = 0;
        for (uint iteration = 1; filled < tableSize; iteration++)
        {
            for (var k = 0; k < n && filled < tableSize; k++)
            {
                var weight = normalized[order[k]];

                // An endpoint of the largest weight takes a slot every round; one of a third of
                // it, every third round.
                if (iteration * weight < target[k])
                {
                    continue;
                }

                target[k] += maxWeight;
                var c = position[k];
                var step = skip[k];
                var wrap = m - step;
                while (IsSet(occupied, c))
                {
                    c = c >= wrap ? c - wrap : c + step;
                }

                occupied[c >> 6] |= 1UL << (int)(c & 63);
                table[c] = order[k];
                position[k] = c >= wrap ? c - wrap : c + step;
                filled++;
            }
        }

        return table;
    }

    private static bool IsSet(ulong[] bits, uint i) => (bits[i >> 6] & (1UL << (int)(i & 63))) != 0;
}
