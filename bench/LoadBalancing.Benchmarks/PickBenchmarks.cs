using BenchmarkDotNet.Attributes;

namespace LoadBalancing.Benchmarks;

/// <summary>The cost of one pick for every algorithm and set size, with a precomputed 64-bit key.</summary>
[Config(typeof(BenchConfig))]
public class PickBenchmarks
{
    private const int KeyMask = 1023;
    private Balancer _balancer = null!;
    private ulong[] _keys = null!;
    private int _next;

    [Params(10, 100, 1_000, 10_000)]
    public int N { get; set; }

    [ParamsAllValues]
    public LoadBalancingAlgorithm Algorithm { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _balancer = Clusters.Balancer(Algorithm, N);
        _keys = Clusters.Keys(KeyMask + 1, 7);
    }

    [GlobalCleanup]
    public void Cleanup() => _balancer.Dispose();

    [Benchmark]
    public BackendEndpoint? Pick()
    {
        var pick = _balancer.Pick(PickContext.ForHash(_keys[_next++ & KeyMask]));
        Clusters.Release(pick);
        return pick.Endpoint;
    }

    /// <summary>The algorithm alone: the picker's table look-up, without in-flight accounting.</summary>
    [Benchmark]
    public int PickerOnly() => _balancer.CurrentPicker.Pick(PickContext.ForHash(_keys[_next++ & KeyMask]));

    [Benchmark]
    public BackendEndpoint? PickAndComplete()
    {
        var pick = _balancer.Pick(PickContext.ForHash(_keys[_next++ & KeyMask]));
        pick.Complete(true, TimeSpan.FromMilliseconds(8));
        return pick.Endpoint;
    }
}

/// <summary>Hash-based picks including the xxHash64 of a 32-byte header value.</summary>
[Config(typeof(BenchConfig))]
public class HeaderPickBenchmarks
{
    private const int KeyMask = 1023;
    private Balancer _balancer = null!;
    private string[] _headers = null!;
    private byte[][] _headerBytes = null!;
    private int _next;

    [Params(10, 100, 1_000, 10_000)]
    public int N { get; set; }

    [Params(LoadBalancingAlgorithm.Maglev, LoadBalancingAlgorithm.RingHash)]
    public LoadBalancingAlgorithm Algorithm { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _balancer = Clusters.Balancer(Algorithm, N);
        _headers = Clusters.HeaderValues(KeyMask + 1, 7);
        _headerBytes = _headers.Select(System.Text.Encoding.ASCII.GetBytes).ToArray();
    }

    [GlobalCleanup]
    public void Cleanup() => _balancer.Dispose();

    /// <summary>The header as bytes off the wire (what a Pipelines-based proxy has).</summary>
    [Benchmark]
    public BackendEndpoint? HashHeaderBytesAndPick()
    {
        var pick = _balancer.Pick(PickContext.ForHash(RequestKey.FromBytes(_headerBytes[_next++ & KeyMask])));
        Clusters.Release(pick);
        return pick.Endpoint;
    }

    /// <summary>The header as a string (what Kestrel's header dictionary gives).</summary>
    [Benchmark]
    public BackendEndpoint? HashHeaderAndPick()
    {
        var pick = _balancer.Pick(PickContext.ForHash(RequestKey.FromString(_headers[_next++ & KeyMask])));
        Clusters.Release(pick);
        return pick.Endpoint;
    }
}
