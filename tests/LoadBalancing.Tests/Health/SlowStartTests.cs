using LoadBalancing.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Tests.Health;

public sealed class SlowStartTests
{
    [Theory]
    [InlineData(LoadBalancingAlgorithm.RoundRobin)]
    [InlineData(LoadBalancingAlgorithm.LeastRequest)]
    public void Pick_NewEndpoint_RampsUpOverTheWindow(LoadBalancingAlgorithm algorithm)
    {
        var time = new FakeTimeProvider();
        var source = new EndpointSource("web", time);
        var endpoints = TestEndpoints.Make(4);
        source.Publish(endpoints.Take(3));
        var options = TestEndpoints.Options(algorithm, o => { o.SlowStart.Window = TimeSpan.FromSeconds(60); o.SlowStart.MinWeightPercent = 10; });
        using var balancer = new Balancer(source, options, time, new Random(4), perThreadRoundRobin: false);

        source.Publish(endpoints);
        var early = ShareOf(balancer, endpoints[3]);
        time.Advance(TimeSpan.FromSeconds(30));
        var half = ShareOf(balancer, endpoints[3]);
        time.Advance(TimeSpan.FromSeconds(30));
        var full = ShareOf(balancer, endpoints[3]);

        // Weights 1, 1, 1 and the newcomer's: 0.1 → 2.5 %... 0.5 → 14 %, 1.0 → 25 %.
        Assert.InRange(early, 0.0, 0.06);
        Assert.InRange(half, 0.10, 0.19);
        Assert.InRange(full, 0.22, 0.28);
    }

    [Fact]
    public void Pick_EndpointsOfTheFirstSet_GetNoSlowStart()
    {
        var time = new FakeTimeProvider();
        var endpoints = TestEndpoints.Make(4);
        var options = TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin, o => o.SlowStart.Window = TimeSpan.FromSeconds(60));
        using var balancer = TestEndpoints.Balancer(endpoints, options, time);

        Assert.Equal(0.25, ShareOf(balancer, endpoints[3]), 0.01);
    }

    private static double ShareOf(Balancer balancer, BackendEndpoint endpoint)
    {
        const int picks = 4000;
        var hits = 0;
        for (var i = 0; i < picks; i++)
        {
            hits += balancer.PickAndComplete(PickContext.None).Equals(endpoint) ? 1 : 0;
        }

        return (double)hits / picks;
    }
}
