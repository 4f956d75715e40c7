namespace LoadBalancing.Internal;

/// <summary>
/// Vose's alias method: draws an index in proportion to its weight with one 64-bit random number
/// and one table look-up, whatever the number of weights.
/// </summary>
internal sealed class AliasTable
{
    private readonly uint[] _threshold; // probability of keeping the column, scaled to 2^32
    private readonly int[] _alias;

    public AliasTable(double[] weights)
    {
        var n = weights.Length;
        double sum = 0;
        foreach (var w in weights)
        {
            sum += w;
        }

        var scaled = new double[n];
        var small = new Stack<int>();
        var large = new Stack<int>();
        for (var i = 0; i < n; i++)
        {
            scaled[i] = weights[i] * n / sum;
            (scaled[i] < 1.0 ? small : large).Push(i);
        }

        _threshold = new uint[n];
        _alias = new int[n];
        while (small.Count > 0 && large.Count > 0)
        {
            var s = small.Pop();
            var l = large.Pop();
            _threshold[s] = (uint)(scaled[s] * 4294967296.0);
            _alias[s] = l;
            scaled[l] = scaled[l] + scaled[s] - 1.0;
            (scaled[l] < 1.0 ? small : large).Push(l);
        }

        // What is left has probability 1 up to rounding: it always keeps its column.
        foreach (var i in large.Concat(small))
        {
            _threshold[i] = uint.MaxValue;
            _alias[i] = i;
        }
    }

    public int Next(in PickRandom random)
    {
        // The high half chooses the column, the low half tosses the coin.
        var r = random.NextUInt64();
        var column = (int)(((r >> 32) * (ulong)(uint)_alias.Length) >> 32);
        return (uint)r < _threshold[column] ? column : _alias[column];
    }
}
