using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Kubernetes.Gateway;

namespace LoadBalancing.Benchmarks;

/// <summary>
/// The Gateway controller's rebuild for 1,000 HTTPRoutes (<see cref="GatewayFixtures"/>): the translation alone, and
/// the translation plus the proxy runtime applying the published set (merge, validate, plan, commit) over 1,000 Service
/// clusters of 5 endpoints each (5,000 endpoints), one route changed so every cluster is kept.
/// </summary>
[Config(typeof(Config))]
public class GatewayBenchmarks
{
    private GatewayInputs[] _inputs = null!;
    private BenchRouteSource _source = null!;
    private ProxyRuntime _runtime = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _inputs = [GatewayFixtures.Inputs(variant: 0), GatewayFixtures.Inputs(variant: 1)];
        _source = new BenchRouteSource();
        _runtime = GatewayFixtures.Runtime(_source);
        _source.Set(GatewayTranslator.Translate(_inputs[0], GatewayFixtures.Settings).Set);
        if (_runtime.Routes.Routes.Count != 2 * GatewayFixtures.Routes || _runtime.Clusters.Count != GatewayFixtures.Routes)
        {
            throw new InvalidOperationException($"expected {2 * GatewayFixtures.Routes} routes over {GatewayFixtures.Routes} clusters, got {_runtime.Routes.Routes.Count} over {_runtime.Clusters.Count}: {string.Join("; ", _runtime.Status.Errors)}");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _runtime.Dispose();

    /// <summary>GatewayTranslator.Translate of the 1,000 HTTPRoutes: 2,000 routes, 1,000 clusters, status for each object.</summary>
    [Benchmark]
    public int Translate() => GatewayTranslator.Translate(_inputs[0], GatewayFixtures.Settings).Set.Routes.Count;

    /// <summary>Translate (one route differs from the set in service), publish, the runtime applies it: clusters kept.</summary>
    [Benchmark]
    public long TranslateAndApply()
    {
        var generation = _runtime.Config.Generation;
        _source.Set(GatewayTranslator.Translate(_inputs[++_next & 1], GatewayFixtures.Settings).Set);
        if (_runtime.Config.Generation != generation + 1)
        {
            throw new InvalidOperationException($"not applied: {string.Join("; ", _runtime.Status.Errors)}");
        }

        return _runtime.Config.Generation;
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithWarmupCount(2).WithIterationCount(8).WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(500)).WithLaunchCount(1));
            AddDiagnoser(MemoryDiagnoser.Default);
            AddColumn(BenchmarkDotNet.Columns.StatisticColumn.Median);
            WithOptions(ConfigOptions.DisableLogFile);
        }
    }
}

/// <summary>
/// The first set of 1,000 HTTPRoutes (or any set whose clusters are all new): translate, publish, the runtime builds
/// 1,000 clusters over 5,000 endpoints. Each iteration starts from a runtime whose source published nothing (the
/// previous iteration's clusters retired in the setup, outside the measurement), so one invocation per iteration.
/// </summary>
[Config(typeof(Config))]
public class GatewayBuildBenchmarks
{
    private GatewayInputs _inputs = null!;
    private BenchRouteSource _source = null!;
    private ProxyRuntime _runtime = null!;

    [GlobalSetup]
    public void Setup()
    {
        _inputs = GatewayFixtures.Inputs();
        _source = new BenchRouteSource();
        _runtime = GatewayFixtures.Runtime(_source);
    }

    [IterationSetup]
    public void Empty()
    {
        _source.Set(ProxyRouteSet.Empty);
        GC.Collect();
    }

    [GlobalCleanup]
    public void Cleanup() => _runtime.Dispose();

    [Benchmark]
    public int TranslateAndBuild()
    {
        _source.Set(GatewayTranslator.Translate(_inputs, GatewayFixtures.Settings).Set);
        if (_runtime.Clusters.Count != GatewayFixtures.Routes)
        {
            throw new InvalidOperationException($"not applied: {string.Join("; ", _runtime.Status.Errors)}");
        }

        return _runtime.Clusters.Count;
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithStrategy(RunStrategy.Monitoring).WithInvocationCount(1).WithUnrollFactor(1).WithWarmupCount(2).WithIterationCount(12).WithLaunchCount(1));
            AddDiagnoser(MemoryDiagnoser.Default);
            AddColumn(BenchmarkDotNet.Columns.StatisticColumn.Median);
            WithOptions(ConfigOptions.DisableLogFile);
        }
    }
}
