namespace LoadBalancing.Algorithms;

/// <summary>
/// Least outstanding requests over <c>ChoiceCount</c> distinct random endpoints (power of two
/// choices by default). With equal weights the fewest in-flight wins; with unequal weights the
/// highest <c>weight / (active + 1)^bias</c> wins (Envoy's formula). No scan of the whole set.
/// </summary>
internal sealed class LeastRequestPicker : Picker
{
    private readonly Random _random;
    private readonly int _count;
    private readonly int _choices;
    private readonly double[]? _weights; // null when equal: compare in-flight counts only
    private readonly double _bias;

    public LeastRequestPicker(in PickerInput input)
        : base(input)
    {
        _random = input.Random;
        _count = input.Count;
        _choices = input.Options.LeastRequest.ChoiceCount;
        _bias = input.Options.LeastRequest.ActiveRequestBias;
        _weights = input.EqualWeights ? null : input.Weights;
    }

    public override int Pick(in PickContext context)
    {
        if (_count <= 1)
        {
            return _count - 1;
        }

        if (_choices >= _count)
        {
            return PickAll();
        }

        if (_choices == 2)
        {
            var first = _random.Next(_count);
            var second = _random.Next(_count - 1);
            if (second >= first)
            {
                second++;
            }

            return Better(second, first) ? second : first;
        }

        return PickSampled();
    }

    private int PickAll()
    {
        // Start at a random place so ties do not always favour the first endpoint.
        var start = _random.Next(_count);
        var best = start;
        for (var k = 1; k < _count; k++)
        {
            var i = start + k;
            if (i >= _count)
            {
                i -= _count;
            }

            if (Better(i, best))
            {
                best = i;
            }
        }

        return best;
    }

    private int PickSampled()
    {
        // Floyd's algorithm: _choices distinct indexes without touching the heap.
        Span<int> chosen = stackalloc int[_choices];
        var taken = 0;
        var best = -1;
        for (var j = _count - _choices; j < _count; j++)
        {
            var t = _random.Next(j + 1);
            if (chosen[..taken].Contains(t))
            {
                t = j;
            }

            chosen[taken++] = t;
            if (best < 0 || Better(t, best))
            {
                best = t;
            }
        }

        return best;
    }

    private bool Better(int candidate, int incumbent)
    {
        var a = States[candidate].InFlight;
        var b = States[incumbent].InFlight;
        if (_weights is null)
        {
            return a < b;
        }

        return Score(_weights[candidate], a) > Score(_weights[incumbent], b);
    }

    private double Score(double weight, int active) =>
        _bias switch
        {
            1.0 => weight / (active + 1),
            0.0 => weight,
            _ => weight / Math.Pow(active + 1, _bias),
        };
}
