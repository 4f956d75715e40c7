using LoadBalancing.Internal;

namespace LoadBalancing.Algorithms;

/// <summary>
/// Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2016): an endpoint takes
/// at most ⌈c × (total in-flight + 1) × its weight share⌉ requests. A key whose endpoint is full
/// walks a fixed sequence derived from the key (a start and a step coprime with the endpoint count,
/// so the walk visits every endpoint once) and takes the first endpoint with room — the same key
/// always spills to the same place, and spills scatter instead of piling onto the next neighbour
/// (the random-jump idea of Chen et al., 2019). If every endpoint is full, the least loaded relative
/// to its cap wins. No allocation.
/// </summary>
internal sealed class BoundedLoadPicker : HashPicker
{
    private const int StepChoices = 64;

    private readonly HashPicker _table;
    private readonly double[] _shares;
    private readonly double _factor;
    private readonly LoadCounter _total;
    private readonly int[] _steps;

    public BoundedLoadPicker(in PickerInput input, HashPicker table)
        : base(input)
    {
        _table = table;
        _shares = Normalize(input.Weights, out _, out _);
        _factor = input.Options.HashBalanceFactor ?? 1.0;
        _total = input.TotalInFlight ?? new LoadCounter();
        _steps = CoprimeSteps(input.Count);
    }

    public override int Lookup(ulong hash)
    {
        var home = _table.Lookup(hash);
        if (home < 0)
        {
            return home;
        }

        var total = _total.Value;
        if (HasRoom(home, total))
        {
            return home;
        }

        var n = _shares.Length;
        var mixed = Mix(hash);
        var index = (int)((mixed >> 32) % (uint)n);
        var step = _steps[(int)((uint)mixed % (uint)_steps.Length)];
        var best = home;
        var bestLoad = RelativeLoad(home, total);
        for (var visited = 0; visited < n; visited++)
        {
            if (index != home)
            {
                if (HasRoom(index, total))
                {
                    return index;
                }

                var load = RelativeLoad(index, total);
                if (load < bestLoad)
                {
                    best = index;
                    bestLoad = load;
                }
            }

            index += step;
            if (index >= n)
            {
                index -= n;
            }
        }

        return best;
    }

    internal long Cap(int index, long totalInFlight) =>
        Math.Max(1, (long)Math.Ceiling(_factor * (totalInFlight + 1) * _shares[index]));

    /// <summary>The balancer's own requests in flight on the endpoint: the same requests as the total counts.</summary>
    internal long InFlight(int index) => Outliers[index].BoundedLoad!.Value;

    private bool HasRoom(int index, long total) => InFlight(index) + 1 <= Cap(index, total);

    private double RelativeLoad(int index, long total) => (InFlight(index) + 1.0) / Cap(index, total);

    private static ulong Mix(ulong x)
    {
        // SplitMix64's finaliser: the walk must not correlate with the table slot the key hit.
        x ^= x >> 30;
        x *= 0xBF58476D1CE4E5B9UL;
        x ^= x >> 27;
        x *= 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    private static int[] CoprimeSteps(int n)
    {
        if (n <= 2)
        {
            return [1];
        }

        // Fixed seeds, so every process derives the same steps for the same endpoint count.
        var steps = new int[StepChoices];
        for (var k = 0; k < StepChoices; k++)
        {
            var step = (int)(Mix((ulong)k + 1) % (ulong)(n - 1)) + 1;
            while (Integers.Gcd(step, n) != 1)
            {
                step = (step % (n - 1)) + 1;
            }

            steps[k] = step;
        }

        return steps;
    }
}
