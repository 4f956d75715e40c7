using System.Globalization;
using LoadBalancing.Internal;

namespace LoadBalancing.Benchmarks;

/// <summary>The clusters every benchmark picks from, built the same way each time.</summary>
public static class Clusters
{
    public static BackendEndpoint[] Endpoints(int n, int weight = 1) =>
        Enumerable.Range(0, n)
            .Select(i => new BackendEndpoint(string.Create(CultureInfo.InvariantCulture, $"10.{i >> 16}.{(i >> 8) & 0xFF}.{i & 0xFF}"), 8080, weight))
            .ToArray();

    public static BalancerOptions Options(LoadBalancingAlgorithm algorithm, int n) => new()
    {
        Algorithm = algorithm,

        // 1,024 ring entries per endpoint (Envoy's benchmarks' density), within the 8M cap.
        RingHash = { MinimumRingSize = (int)Math.Min(1024L * n, RingHashOptions.MaxRingSizeLimit) },
    };

    public static Balancer Balancer(LoadBalancingAlgorithm algorithm, int n)
    {
        var source = new EndpointSource("bench");
        source.Publish(Endpoints(n));
        var balancer = new Balancer(source, Options(algorithm, n));

        // Give peak-EWMA real estimates to decay, as in steady state: every endpoint has answered.
        // Picks alone leave some endpoints unsampled (two choices avoid them), so those get a
        // sample directly.
        var random = new Random(1);
        for (var i = 0; i < n * 4; i++)
        {
            var pick = balancer.Pick();
            pick.Complete(true, TimeSpan.FromMilliseconds(5 + random.Next(10)));
        }

        var clock = new EwmaClock(TimeProvider.System, balancer.Options.PeakEwma.DecayTime);
        foreach (var state in balancer.CurrentPicker.States)
        {
            if (Volatile.Read(ref state.CurrentEwma) == 0)
            {
                PeakEwma.Observe(ref state.CurrentEwma, 1000 * (5 + random.Next(10)), clock, clock.Now());
            }
        }

        return balancer;
    }

    public static ulong[] Keys(int count, int seed)
    {
        var random = new Random(seed);
        var keys = new ulong[count];
        random.NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(keys.AsSpan()));
        return keys;
    }

    /// <summary>32-character header values (a session id, say).</summary>
    public static string[] HeaderValues(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => Convert.ToHexString(BitConverter.GetBytes(random.NextInt64())) + Convert.ToHexString(BitConverter.GetBytes(random.NextInt64()))).ToArray();
    }

    /// <summary>Undoes a pick's in-flight count without the completion's bookkeeping: isolates the pick's cost.</summary>
    public static void Release(in PickResult pick)
    {
        if (pick.State is { } state)
        {
            state.RemoveInFlight();
        }
    }
}
