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
