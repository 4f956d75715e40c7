using BenchmarkDotNet.Attributes;

namespace LoadBalancing.Benchmarks;

/// <summary>
/// Picks per second with 1 and 2 threads picking at once (N = 100). The same total number of picks
/// is split over the threads, so the time per operation falls as threads scale: 2 threads should
/// show about half the 1-thread time.
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
    public void PickAndComplete()
    {
        if (Threads == 1)
        {
            Run(TotalPicks);
            return;
        }

        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, _ => Run(TotalPicks / Threads));
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
