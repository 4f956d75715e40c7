using BenchmarkDotNet.Attributes;
using LoadBalancing.Proxy.Routing;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Benchmarks;

/// <summary>
/// <c>RouteTable.Match</c> on 10 and 1,000 routes (<see cref="RouteFixtures"/>), per request: each invocation matches
/// 16 different requests of one kind, so the figure is the mean over them, not one request's best case.
/// </summary>
[Config(typeof(BenchConfig))]
public class RouteMatchBenchmarks
{
    private RouteTable _table = null!;
    private HttpRequest[] _requests = null!;

    [Params(10, 1_000)]
    public int Routes { get; set; }

    [ParamsAllValues]
    public RouteRequest Request { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _table = RouteFixtures.Table(Routes);
        _requests = RouteFixtures.Requests(Request, Routes);
    }

    [Benchmark(OperationsPerInvoke = RouteFixtures.RequestsPerKind)]
    public int Match()
    {
        var matched = 0;
        foreach (var request in _requests)
        {
            matched += _table.Match(request)?.Index ?? -1;
        }

        return matched;
    }
}
