using LoadBalancing.Internal;

namespace LoadBalancing.Algorithms;

/// <summary>
/// Least outstanding requests over <c>ChoiceCount</c> distinct random endpoints (power of two
/// choices by default); no scan of the whole set.
/// Equal weights: candidates are drawn uniformly and the fewest in-flight wins.
/// Unequal weights: candidates are drawn in proportion to weight and the lowest
/// <c>active^bias / weight</c> wins, ties going to the first drawn — the order of Envoy's
/// <c>weight / (active + 1)^bias</c>, except that an idle cluster splits by weight instead of
/// always favouring the heaviest endpoint (Envoy gets that from its locked EDF scheduler).
/// </summary>
internal sealed class LeastRequestPicker : Picker
{
    private const int DistinctDrawAttempts = 4;

    private readonly PickRandom _random;
    private readonly int _count;
    private readonly int _choices;
    private readonly double[]? _weights; // null when equal: compare in-flight counts only
    private readonly AliasTable? _byWeight;
    private readonly double _bias;
    private readonly bool _equalPairs; // the default: two choices, equal weights

    public LeastRequestPicker(in PickerInput input)
        : base(input)
    {
        _random = new PickRandom(input.Random);
        _count = input.Count;
        _choices = input.Options.LeastRequest.ChoiceCount;
        _bias = input.Options.LeastRequest.ActiveRequestBias;
        if (!input.EqualWeights)
        {
            _weights = input.Weights;
            _byWeight = new AliasTable(input.Weights);
        }

        _equalPairs = _byWeight is null && _choices == 2 && _count >= 2;
    }

    public override int Pick(in PickContext context)
    {
        if (_equalPairs)
        {
            // The common case first, with nothing else to decide: one draw, two reads.
            var (first, second) = _random.NextDistinctPair(_count);
            var states = States;
            return states[second].InFlight < states[first].InFlight ? second : first;
        }

        if (_count <= 1)
        {
            return _count - 1;
        }

        if (_byWeight is not null)
        {
            return PickWeighted();
        }

        if (_choices >= _count)
        {
            return PickAll();
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

            if (States[i].InFlight < States[best].InFlight)
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
            if (best < 0 || States[t].InFlight < States[best].InFlight)
            {
                best = t;
            }
        }

        return best;
    }

    private int PickWeighted()
    {
        var best = _byWeight!.Next(_random);
        var bestCost = Cost(best);
        var choices = Math.Min(_choices, _count);
        for (var c = 1; c < choices; c++)
        {
            // Redraw a few times to get a distinct candidate; a heavy endpoint may come up again.
            var candidate = _byWeight.Next(_random);
            for (var attempt = 1; candidate == best && attempt < DistinctDrawAttempts; attempt++)
            {
                candidate = _byWeight.Next(_random);
            }

            var cost = Cost(candidate);
            if (cost < bestCost)
            {
                best = candidate;
                bestCost = cost;
            }
        }

        return best;
    }

    private double Cost(int index)
    {
        var active = States[index].InFlight;
        var load = _bias switch
        {
            1.0 => active,
            0.0 => 0.0,
            _ => Math.Pow(active, _bias),
        };
        return load / _weights![index];
    }
}
