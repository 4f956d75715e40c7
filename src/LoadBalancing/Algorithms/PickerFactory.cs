namespace LoadBalancing.Algorithms;

internal static class PickerFactory
{
    public static Picker Create(in PickerInput input, bool perThreadRoundRobin)
    {
        if (input.Count == 0)
        {
            return new EmptyPicker(input);
        }

        return input.Options.Algorithm switch
        {
            LoadBalancingAlgorithm.RoundRobin => new RoundRobinPicker(input, perThreadRoundRobin),
            LoadBalancingAlgorithm.Random => new RandomPicker(input),
            LoadBalancingAlgorithm.LeastRequest => new LeastRequestPicker(input),
            LoadBalancingAlgorithm.PeakEwma => new PeakEwmaPicker(input),
            LoadBalancingAlgorithm.RingHash => Bounded(input, new RingHashPicker(input)),
            LoadBalancingAlgorithm.Maglev => Bounded(input, new MaglevPicker(input)),
            _ => throw new ArgumentOutOfRangeException(nameof(input), input.Options.Algorithm, "Unknown algorithm."),
        };
    }

    /// <summary>Whether the algorithm ramps new endpoints up (Envoy applies slow start to these).</summary>
    public static bool UsesSlowStart(LoadBalancingAlgorithm algorithm) =>
        algorithm is LoadBalancingAlgorithm.RoundRobin or LoadBalancingAlgorithm.LeastRequest;

    private static Picker Bounded(in PickerInput input, HashPicker table) =>
        input.Options.HashBalanceFactor is null ? table : new BoundedLoadPicker(input, table);
}
