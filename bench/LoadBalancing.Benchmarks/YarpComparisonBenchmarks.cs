using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace LoadBalancing.Benchmarks;

/// <summary>
/// Ours against YARP 2.3's policies, picking from the same N destinations in the same run. YARP is
/// the baseline of each category, so the Ratio column is ours / YARP (below 1 = faster).
/// Two rows of ours per category: <c>Ours_*</c> is the whole <see cref="Balancer.Pick(in PickContext)"/>,
/// including counting the request in flight and releasing it, which YARP's policy call does not do
/// (its forwarder counts separately); <c>Ours_*_Picker</c> is the picker alone, the like-for-like
/// counterpart of a YARP policy.
/// </summary>
[Config(typeof(BenchConfig))]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class YarpComparisonBenchmarks
{
    private ServiceProvider _services = null!;
    private ILoadBalancingPolicy _yarpRoundRobin = null!;
    private ILoadBalancingPolicy _yarpPowerOfTwo = null!;
    private ILoadBalancingPolicy _yarpLeastRequests = null!;
    private ClusterState _cluster = null!;
    private DestinationState[] _destinations = null!;
    private HttpContext _context = null!;
    private Balancer _roundRobin = null!;
    private Balancer _leastRequest = null!;

    [Params(10, 100, 1_000, 10_000)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddReverseProxy();
        _services = services.BuildServiceProvider();
        var policies = _services.GetServices<ILoadBalancingPolicy>().ToDictionary(p => p.Name, StringComparer.Ordinal);
        _yarpRoundRobin = policies[LoadBalancingPolicies.RoundRobin];
        _yarpPowerOfTwo = policies[LoadBalancingPolicies.PowerOfTwoChoices];
        _yarpLeastRequests = policies[LoadBalancingPolicies.LeastRequests];
        _cluster = new ClusterState("bench");
        _destinations = Enumerable.Range(0, N).Select(i => new DestinationState($"d{i}")).ToArray();
        _context = new DefaultHttpContext();
        _roundRobin = Clusters.Balancer(LoadBalancingAlgorithm.RoundRobin, N);
        _leastRequest = Clusters.Balancer(LoadBalancingAlgorithm.LeastRequest, N);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _roundRobin.Dispose();
        _leastRequest.Dispose();
        _services.Dispose();
    }

    [Benchmark(Baseline = true), BenchmarkCategory("RoundRobin")]
    public DestinationState? Yarp_RoundRobin() => _yarpRoundRobin.PickDestination(_context, _cluster, _destinations);

    [Benchmark, BenchmarkCategory("RoundRobin")]
    public BackendEndpoint? Ours_RoundRobin() => PickAndRelease(_roundRobin);

    [Benchmark, BenchmarkCategory("RoundRobin")]
    public int Ours_RoundRobin_Picker() => _roundRobin.CurrentPicker.Pick(PickContext.None);

    [Benchmark(Baseline = true), BenchmarkCategory("PowerOfTwoChoices")]
    public DestinationState? Yarp_PowerOfTwoChoices() => _yarpPowerOfTwo.PickDestination(_context, _cluster, _destinations);

    [Benchmark, BenchmarkCategory("PowerOfTwoChoices")]
    public BackendEndpoint? Ours_LeastRequest_P2C() => PickAndRelease(_leastRequest);

    [Benchmark, BenchmarkCategory("PowerOfTwoChoices")]
    public int Ours_LeastRequest_P2C_Picker() => _leastRequest.CurrentPicker.Pick(PickContext.None);

    [Benchmark(Baseline = true), BenchmarkCategory("LeastRequests")]
    public DestinationState? Yarp_LeastRequests() => _yarpLeastRequests.PickDestination(_context, _cluster, _destinations);

    [Benchmark, BenchmarkCategory("LeastRequests")]
    public BackendEndpoint? Ours_LeastRequest() => PickAndRelease(_leastRequest);

    [Benchmark, BenchmarkCategory("LeastRequests")]
    public int Ours_LeastRequest_Picker() => _leastRequest.CurrentPicker.Pick(PickContext.None);

    private static BackendEndpoint? PickAndRelease(Balancer balancer)
    {
        var pick = balancer.Pick();
        Clusters.Release(pick);
        return pick.Endpoint;
    }
}
