using BenchmarkDotNet.Attributes;

namespace LoadBalancing.Benchmarks;

/// <summary>
/// Picks per second with 1 and 2 threads picking at once (N = 100). The same total number of picks
/// is split over the threads, so the time per operation falls as threads scale: 2 threads should
/// show about half the 1-thread time. <see cref="PrivateCountersOnly"/> is the machine's own ceiling in
/// the same run: the same split, each thread incrementing and decrementing a counter nobody else touches.
/// </summary>
[Config(typeof(BenchConfig))]
public class ContentionBenchmarks
{
    private const int TotalPicks = 1 << 21;
    private Balancer _balancer = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [Params(LoadBalancingAlgorithm.RoundRobin, LoadBalancingAlgorithm.LeastRequest, LoadBalancingAlgorithm.PeakEwma)]
    public LoadBalancingAlgorithm Algorithm { get; set; }

    [GlobalSetup]
    public void Setup() => _balancer = Clusters.Balancer(Algorithm, 100);

    [GlobalCleanup]
    public void Cleanup() => _balancer.Dispose();

    [Benchmark(OperationsPerInvoke = TotalPicks)]
    public void PickAndComplete() => SplitOverThreads(Run);

    /// <summary>
    /// Two interlocked operations per iteration on memory no other thread writes (a counter on a cache
    /// line of its own per thread): how far this machine scales two threads when nothing is shared.
    /// </summary>
    [Benchmark(OperationsPerInvoke = TotalPicks)]
    public void PrivateCountersOnly() => SplitOverThreads(RunPrivate);

    /// <summary>Runs <see cref="TotalPicks"/> iterations on this thread, or split evenly over <see cref="Threads"/> threads.</summary>
    private void SplitOverThreads(Action<int> run)
    {
        if (Threads == 1)
        {
            run(TotalPicks);
            return;
        }

        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, _ => run(TotalPicks / Threads));
    }

    private static void RunPrivate(int iterations)
    {
        var counters = new long[32]; // the counter at [16]: 128 bytes from either end of the array
        ref var counter = ref counters[16];
        for (var i = 0; i < iterations; i++)
        {
            Interlocked.Increment(ref counter);
            Interlocked.Decrement(ref counter);
        }
    }

    private void Run(int picks)
    {
        var latency = TimeSpan.FromMilliseconds(8);
        for (var i = 0; i < picks; i++)
        {
            _balancer.Pick().Complete(true, latency);
        }
    }
}
