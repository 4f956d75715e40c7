using LoadBalancing.Algorithms;
using LoadBalancing.Internal;

namespace LoadBalancing.Tests.Algorithms;

/// <summary>Builds pickers straight from endpoints (canonical order, raw weights), as the balancer does for a healthy set.</summary>
internal static class PickerBuilder
{
    public static PickerInput Input(BackendEndpoint[] endpoints, BalancerOptions options, Random? random = null, TimeProvider? time = null, LoadCounter? total = null)
    {
        var sorted = endpoints.OrderBy(e => e, Comparer<BackendEndpoint>.Create(BackendEndpoint.CompareIdentity)).ToArray();
        var now = (time ?? TimeProvider.System).GetUtcNow();
        var states = sorted.Select(_ => new EndpointState(now, initialMember: true)).ToArray();
        return new PickerInput(
            sorted,
            states,
            states.Select(s => new OutlierState(s)).ToArray(),
            sorted.Select(e => (double)e.Weight).ToArray(),
            random ?? new Random(1),
            options,
            new EwmaClock(time ?? TimeProvider.System, options.PeakEwma.DecayTime),
            total);
    }

    public static MaglevPicker Maglev(BackendEndpoint[] endpoints, int tableSize = MaglevOptions.DefaultTableSize) =>
        new(Input(endpoints, new BalancerOptions { Algorithm = LoadBalancingAlgorithm.Maglev, Maglev = { TableSize = tableSize } }));

    public static RingHashPicker Ring(BackendEndpoint[] endpoints, int minRing = 1024, int maxRing = RingHashOptions.MaxRingSizeLimit) =>
        new(Input(endpoints, new BalancerOptions { Algorithm = LoadBalancingAlgorithm.RingHash, RingHash = { MinimumRingSize = minRing, MaximumRingSize = maxRing } }));

    /// <summary>The endpoint each of <paramref name="keys"/> maps to.</summary>
    public static BackendEndpoint[] Owners(HashPicker picker, IEnumerable<ulong> keys) =>
        keys.Select(k => picker.Endpoints[picker.Lookup(k)]).ToArray();

    public static ulong[] RandomKeys(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.NextUInt64()).ToArray();
    }
}
