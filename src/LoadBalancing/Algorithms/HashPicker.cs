using LoadBalancing.Internal;

namespace LoadBalancing.Algorithms;

/// <summary>A consistent-hash table: the request key decides; without a key, a random one does (as in Envoy).</summary>
internal abstract class HashPicker : Picker
{
    private readonly PickRandom _random;

    protected HashPicker(in PickerInput input)
        : base(input)
    {
        _random = new PickRandom(input.Random);
    }

    public sealed override int Pick(in PickContext context) =>
        Lookup(context.HasHash ? context.Hash : _random.NextUInt64());

    /// <summary>The endpoint index that owns <paramref name="hash"/>, or -1 for an empty table.</summary>
    public abstract int Lookup(ulong hash);

    /// <summary>
    /// Endpoint indexes in ordinal order of their UTF-8 hash keys. Tables built in this order depend
    /// only on the keys and weights: not on addresses, which change when a pod is rescheduled, nor on
    /// the order endpoints were published in. Keys are unique within a set, so the order is total.
    /// </summary>
    protected static int[] HashKeyOrder(BackendEndpoint[] endpoints)
    {
        var order = new int[endpoints.Length];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        Array.Sort(order, (a, b) => endpoints[a].HashKeyUtf8.SequenceCompareTo(endpoints[b].HashKeyUtf8));
        return order;
    }

    /// <summary>Normalised weights (weight / sum) in endpoint order, as Envoy computes them.</summary>
    protected static double[] Normalize(double[] weights, out double min, out double max)
    {
        double sum = 0;
        foreach (var w in weights)
        {
            sum += w;
        }

        var normalized = new double[weights.Length];
        min = 1.0;
        max = 0.0;
        for (var i = 0; i < weights.Length; i++)
        {
            normalized[i] = weights[i] * 1.0 / sum;
            min = Math.Min(min, normalized[i]);
            max = Math.Max(max, normalized[i]);
        }

        return normalized;
    }
}
