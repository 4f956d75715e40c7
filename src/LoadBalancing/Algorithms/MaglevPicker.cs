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

    public MaglevPicker(in PickerInput input)
        : base(input)
    {
        _size = (ulong)input.Options.Maglev.TableSize;
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
        var slot = (int)(hash % _size);
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

        var m = (ulong)tableSize;
        var position = new ulong[n]; // (offset + skip * next) mod M, advanced by adding skip
        var skip = new ulong[n];
        var target = new double[n];
        for (var k = 0; k < n; k++)
        {
            var key = endpoints[order[k]].HashKeyUtf8;
            position[k] = XxHash64.HashToUInt64(key) % m;
            skip[k] = (XxHash64.HashToUInt64(key, 1) % (m - 1)) + 1;
        }

        var table = new int[tableSize];
        Array.Fill(table, -1);
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
                while (table[c] >= 0)
                {
                    c += skip[k];
                    if (c >= m)
                    {
                        c -= m;
                    }
                }

                table[c] = order[k];
                c += skip[k];
                position[k] = c >= m ? c - m : c;
                filled++;
            }
        }

        return table;
    }
}
