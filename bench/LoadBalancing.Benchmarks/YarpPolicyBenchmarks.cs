using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using LoadBalancing.Yarp;
using LoadBalancing.Yarp.Internal;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace LoadBalancing.Benchmarks;

/// <summary>
/// <c>ILoadBalancingPolicy.PickDestination</c> as YARP's load-balancing middleware calls it: ours (LoadBalancing.Yarp)
/// against YARP 2.3's own policies, over the same cluster and destinations, in the same run. Ours includes what a
/// request pays besides the algorithm: the mirror check (two reference compares and a count), the hash key from a
/// header (maglev), the feature look-up for outcome feedback, counting the pick in flight and, with no feedback
/// middleware in this harness, giving it back at once. Runs in process (no separate build), with BenchConfig's short job.
/// </summary>
[Config(typeof(Config))]
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByParams)]
public class YarpPolicyBenchmarks
{
    private ServiceProvider _services = null!;
    private ILoadBalancingPolicy _maglev = null!;
    private ILoadBalancingPolicy _peakEwma = null!;
    private ILoadBalancingPolicy _roundRobin = null!;
    private ILoadBalancingPolicy _yarpRoundRobin = null!;
    private ILoadBalancingPolicy _yarpPowerOfTwo = null!;
    private ILoadBalancingPolicy _yarpRandom = null!;
    private ClusterState _cluster = null!;
    private DestinationState[] _destinations = null!;
    private HttpContext _context = null!;

    [Params(10, 100)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddReverseProxy().AddLoadBalancingPolicies();
        _services = services.BuildServiceProvider();
        var policies = _services.GetServices<ILoadBalancingPolicy>().ToDictionary(p => p.Name, StringComparer.Ordinal);
        _maglev = policies[LoadBalancingPolicyNames.Maglev];
        _peakEwma = policies[LoadBalancingPolicyNames.PeakEwma];
        _roundRobin = policies[LoadBalancingPolicyNames.RoundRobin];
        _yarpRoundRobin = policies[LoadBalancingPolicies.RoundRobin];
        _yarpPowerOfTwo = policies[LoadBalancingPolicies.PowerOfTwoChoices];
        _yarpRandom = policies[LoadBalancingPolicies.Random];

        var config = new ClusterConfig
        {
            ClusterId = "bench",
            Metadata = new Dictionary<string, string> { [LoadBalancingMetadataKeys.HashKey] = "header:X-User" },
        };
        _cluster = new ClusterState("bench", new ClusterModel(config, new HttpMessageInvoker(new SocketsHttpHandler())));
        _destinations = Enumerable.Range(0, N)
            .Select(i => new DestinationState($"d{i}", new DestinationModel(new DestinationConfig { Address = $"http://10.0.{i / 250}.{i % 250 + 1}:8080/" })))
            .ToArray();
        _context = new DefaultHttpContext();
        _context.Request.Headers["X-User"] = "user-4711-a8c3";

        // Build each of our balancers, and give peak-EWMA a latency sample per destination (its steady state).
        _maglev.PickDestination(_context, _cluster, _destinations);
        _roundRobin.PickDestination(_context, _cluster, _destinations);
        _peakEwma.PickDestination(_context, _cluster, _destinations);
        var peakEwma = _services.GetRequiredService<ClusterBalancers>().Get(_cluster, LoadBalancingAlgorithm.PeakEwma).Balancer;
        for (var i = 0; i < N * 20; i++)
        {
            peakEwma.Pick().Complete(true, TimeSpan.FromMicroseconds(800 + (i % 7 * 100)));
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _services.Dispose();

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithWarmupCount(2).WithIterationCount(6).WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(250)).WithLaunchCount(1)
                .WithToolchain(InProcessEmitToolchain.Instance));
            AddDiagnoser(MemoryDiagnoser.Default);
            AddColumn(BenchmarkDotNet.Columns.StatisticColumn.Median);
            WithOptions(ConfigOptions.DisableLogFile);
        }
    }

    [Benchmark]
    public DestinationState? Ours_Maglev() => _maglev.PickDestination(_context, _cluster, _destinations);

    [Benchmark]
    public DestinationState? Ours_PeakEwma() => _peakEwma.PickDestination(_context, _cluster, _destinations);

    [Benchmark]
    public DestinationState? Ours_RoundRobin() => _roundRobin.PickDestination(_context, _cluster, _destinations);

    [Benchmark(Baseline = true)]
    public DestinationState? Yarp_RoundRobin() => _yarpRoundRobin.PickDestination(_context, _cluster, _destinations);

    [Benchmark]
    public DestinationState? Yarp_PowerOfTwoChoices() => _yarpPowerOfTwo.PickDestination(_context, _cluster, _destinations);

    [Benchmark]
    public DestinationState? Yarp_Random() => _yarpRandom.PickDestination(_context, _cluster, _destinations);
}
