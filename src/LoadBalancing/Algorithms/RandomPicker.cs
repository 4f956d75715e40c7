using LoadBalancing.Internal;

namespace LoadBalancing.Algorithms;

/// <summary>
/// Weighted random. Equal weights: one uniform draw. Unequal weights: Vose's alias method,
/// one draw and one table look-up per pick whatever the number of endpoints.
/// </summary>
internal sealed class RandomPicker : Picker
{
    private readonly PickRandom _random;
    private readonly int _count;
    private readonly AliasTable? _weighted;

    public RandomPicker(in PickerInput input)
        : base(input)
    {
        _random = new PickRandom(input.Random);
        _count = input.Count;
        if (!input.EqualWeights)
        {
            _weighted = new AliasTable(input.Weights);
        }
    }

    public override int Pick(in PickContext context) =>
        _weighted is null ? _random.Next(_count) : _weighted.Next(_random);
}
