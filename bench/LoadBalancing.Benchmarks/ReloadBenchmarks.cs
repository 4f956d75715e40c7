using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using LoadBalancing.Proxy;

namespace LoadBalancing.Benchmarks;

/// <summary>
/// <c>ProxyRuntime.Reload</c> of the 1,000-route, 100-cluster configuration (<see cref="ReloadFixtures"/>): validate, plan,
/// build the routes and new clusters, publish. Each call swaps to the other of two configurations, so every one applies.
/// </summary>
[Config(typeof(Config))]
public class ReloadBenchmarks
{
    // One runtime per benchmark, so that each one's reloads alternate between its own two configurations.
    private ProxyRuntime _routesRuntime = null!;
    private ProxyRuntime _clustersRuntime = null!;
    private ProxyOptions[] _routeChanged = null!;
    private ProxyOptions[] _clustersChanged = null!;
    private ProxyOptions[] _timeoutsChanged = null!;
    private ProxyRuntime _timeoutsRuntime = null!;
    private int _nextTimeouts;
    private int _nextRoutes;
    private int _nextClusters;

    [Params(LoadBalancingAlgorithm.RoundRobin, LoadBalancingAlgorithm.Maglev)]
    public LoadBalancingAlgorithm Algorithm { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var start = ReloadFixtures.Options(Algorithm);
        _routesRuntime = ReloadFixtures.Runtime(start);
        _clustersRuntime = ReloadFixtures.Runtime(start);
        _routeChanged = [start, ReloadFixtures.Options(Algorithm, routeVariant: 1)];
        _clustersChanged = [start, ReloadFixtures.Options(Algorithm, clusterVariant: 1)];
        _timeoutsRuntime = ReloadFixtures.Runtime(start);
        _timeoutsChanged = [start, ReloadFixtures.Options(Algorithm, timeoutVariant: 1)];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _routesRuntime.Dispose();
        _clustersRuntime.Dispose();
        _timeoutsRuntime.Dispose();
    }

    /// <summary>One route edited; every cluster stays (with its balancer, endpoint state and pooled connections).</summary>
    [Benchmark]
    public long RoutesChangedClustersKept() => Apply(_routesRuntime, _routeChanged[++_nextRoutes & 1], expectedCreated: false);

    /// <summary>Every cluster's connect timeout changed: 100 clusters kept, each taking its new options in place.</summary>
    [Benchmark]
    public long EveryClusterTimeoutChanged() => Apply(_timeoutsRuntime, _timeoutsChanged[++_nextTimeouts & 1], expectedCreated: false);

    /// <summary>Every cluster's balancer options changed: 100 clusters built, 100 retired.</summary>
    [Benchmark]
    public long EveryClusterChanged() => Apply(_clustersRuntime, _clustersChanged[++_nextClusters & 1], expectedCreated: true);

    private static long Apply(ProxyRuntime runtime, ProxyOptions options, bool expectedCreated)
    {
        var before = runtime.Config.ClustersByName["c0"];
        var result = runtime.Reload(options, [], "bench");
        if (result.Outcome != ReloadOutcome.Applied || (runtime.Config.ClustersByName["c0"] != before) != expectedCreated)
        {
            throw new InvalidOperationException($"reload {result.Outcome} (clusters built: {runtime.Config.ClustersByName["c0"] != before}): {string.Join("; ", result.Errors)}");
        }

        return result.Generation;
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(10).WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(500)).WithLaunchCount(1));
            AddDiagnoser(MemoryDiagnoser.Default);
            AddColumn(BenchmarkDotNet.Columns.StatisticColumn.Median);
            WithOptions(ConfigOptions.DisableLogFile);
        }
    }
}
