using LoadBalancing.Internal;

namespace LoadBalancing.Algorithms;

/// <summary>
/// Weighted random. Equal weights: one uniform draw. Unequal weights: Vose's alias method,
/// one draw and one table look-up per pick whatever the number of endpoints.
/// </summary>
internal sealed class RandomPicker : Picker
{
    private readonly Random _random;
    private readonly int _count;
    private readonly uint[]? _threshold; // scaled to 2^32
    private readonly int[]? _alias;

    public RandomPicker(in PickerInput input)
        : base(input)
    {
        _random = input.Random;
        _count = input.Count;
        if (!input.EqualWeights)
        {
            (_threshold, _alias) = BuildAlias(input.Weights);
        }
    }

    public override int Pick(in PickContext context)
    {
        if (_threshold is null)
        {
            return _random.Next(_count);
        }

        // One 64-bit draw: the high half chooses the column, the low half the coin.
        var r = _random.NextUInt64();
        var column = (int)(((r >> 32) * (ulong)(uint)_count) >> 32);
        return (uint)r < _threshold[column] ? column : _alias![column];
    }

    private static (uint[] Threshold, int[] Alias) BuildAlias(double[] weights)
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

        var threshold = new uint[n];
        var alias = new int[n];
        while (small.Count > 0 && large.Count > 0)
        {
            var s = small.Pop();
            var l = large.Pop();
            threshold[s] = ToThreshold(scaled[s]);
            alias[s] = l;
            scaled[l] = scaled[l] + scaled[s] - 1.0;
            (scaled[l] < 1.0 ? small : large).Push(l);
        }

        // What is left stands alone (its probability is 1 up to rounding).
        foreach (var i in large)
        {
            threshold[i] = uint.MaxValue;
            alias[i] = i;
        }

        foreach (var i in small)
        {
            threshold[i] = uint.MaxValue;
            alias[i] = i;
        }

        return (threshold, alias);
    }

    private static uint ToThreshold(double p) => p >= 1.0 ? uint.MaxValue : (uint)(p * 4294967296.0);
}
