using BenchmarkDotNet.Attributes;
using LoadBalancing.Algorithms;

namespace LoadBalancing.Benchmarks;

/// <summary>Table and ring build cost; Allocated ≈ the table plus the builder's scratch space.</summary>
[Config(typeof(BenchConfig))]
public class BuildBenchmarks
{
    private BackendEndpoint[] _endpoints = null!;
    private double[] _weights = null!;

    [Params(100, 1_000, 10_000)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _endpoints = Clusters.Endpoints(N);
        _weights = _endpoints.Select(e => (double)e.Weight).ToArray();
    }

    [Benchmark]
    public Array Maglev65537() => MaglevPicker.BuildTable(_endpoints, _weights, 65537);

    [Benchmark]
    public Array Maglev655373() => MaglevPicker.BuildTable(_endpoints, _weights, 655373);

    [Benchmark]
    public ulong[] Ring1024PerEndpoint() => RingHashPicker.Build(_endpoints, _weights, Clusters.Options(LoadBalancingAlgorithm.RingHash, N).RingHash).Hashes;
}

/// <summary>A new set through source → balancer → picker: N = 1,000 with one endpoint changed.</summary>
[Config(typeof(BenchConfig))]
public class PublishBenchmarks
{
    private const int N = 1_000;
    private EndpointSource _source = null!;
    private Balancer _balancer = null!;
    private BackendEndpoint[] _a = null!;
    private BackendEndpoint[] _b = null!;
    private bool _flip;

    [Params(LoadBalancingAlgorithm.RoundRobin, LoadBalancingAlgorithm.LeastRequest, LoadBalancingAlgorithm.PeakEwma, LoadBalancingAlgorithm.RingHash, LoadBalancingAlgorithm.Maglev)]
    public LoadBalancingAlgorithm Algorithm { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _a = Clusters.Endpoints(N);
        _b = (BackendEndpoint[])_a.Clone();
        _b[N / 2] = new BackendEndpoint("10.200.0.1", 8080);
        _source = new EndpointSource("publish");
        _source.Publish(_a);
        _balancer = new Balancer(_source, Clusters.Options(Algorithm, N));
    }

    [GlobalCleanup]
    public void Cleanup() => _balancer.Dispose();

    [Benchmark]
    public long PublishOneChanged()
    {
        _flip = !_flip;
        return _source.Publish(_flip ? _b : _a).Version;
    }
}
