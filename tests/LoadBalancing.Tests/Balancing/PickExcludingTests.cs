using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LoadBalancing.Tests.Support;

namespace LoadBalancing.Tests.Balancing;

/// <summary>A retry's pick: never an endpoint already tried, always one when any is left, weighted among those left.</summary>
public sealed class PickExcludingTests
{
    [Property(MaxTest = 200)]
    public Property NeverPicksAnExcludedEndpoint_AndFindsOneWhenAnyIsLeft(NonEmptyArray<PositiveInt> weights, int excludeMask, LoadBalancingAlgorithm algorithm)
    {
        var endpoints = weights.Get.Take(12).Select((w, i) => new BackendEndpoint($"10.0.0.{i + 1}", 80, weight: Math.Min(w.Get, 1000))).ToArray();
        var source = new EndpointSource("p");
        source.Publish(endpoints);
        using var balancer = new Balancer(source, TestEndpoints.Options(algorithm));
        var excluded = endpoints.Where((_, i) => (excludeMask & (1 << i)) != 0).ToArray();

        var pick = balancer.PickExcluding(excluded);
        var picked = pick.Endpoint;
        pick.Release();

        return (excluded.Length == endpoints.Length
                ? pick.Status == PickStatus.NoEndpoint
                : picked is not null && !excluded.Contains(picked))
            .Label($"{excluded.Length}/{endpoints.Length} excluded, picked {picked?.Address ?? "none"} ({pick.Status})");
    }

    [Fact]
    public void FindsTheLightEndpoint_TheAlgorithmAlmostNeverChooses()
    {
        var heavy = new BackendEndpoint("10.0.0.1", 80, weight: 1_000_000);
        var light = new BackendEndpoint("10.0.0.2", 80, weight: 1);
        var source = new EndpointSource("p");
        source.Publish([heavy, light]);
        using var balancer = new Balancer(source, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin));

        for (var i = 0; i < 100; i++)
        {
            var pick = balancer.PickExcluding([heavy]);
            Assert.Same(light, pick.Endpoint);
            Assert.Equal(1, pick.State!.InFlight);
            pick.Release();
        }
    }

    [Fact]
    public void WeighsTheEndpointsLeft()
    {
        var endpoints = new[] { new BackendEndpoint("10.0.0.1", 80, weight: 5), new BackendEndpoint("10.0.0.2", 80, weight: 3), new BackendEndpoint("10.0.0.3", 80, weight: 1) };
        var source = new EndpointSource("p");
        source.Publish(endpoints);
        using var balancer = new Balancer(source, TestEndpoints.Options(LoadBalancingAlgorithm.Random));
        var counts = new Dictionary<string, int>();

        for (var i = 0; i < 8_000; i++)
        {
            var pick = balancer.PickExcluding([endpoints[0]]);
            counts[pick.Endpoint!.Address] = counts.GetValueOrDefault(pick.Endpoint.Address) + 1;
            pick.Release();
        }

        // 3:1 among the two left: 6,000 and 2,000 expected; the bounds are over 10 standard deviations wide.
        Assert.InRange(counts["10.0.0.2"], 5_600, 6_400);
        Assert.InRange(counts["10.0.0.3"], 1_600, 2_400);
        Assert.False(counts.ContainsKey("10.0.0.1"));
    }
}
