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

    [Property(MaxTest = 200)]
    public Property WithALimit_NeverPicksAFullEndpoint_AndFindsOneWithRoomWhenAnyHasIt(NonEmptyArray<byte> loads, PositiveInt limit)
    {
        var max = 1 + (limit.Get % 4);
        var endpoints = loads.Get.Take(10).Select((_, i) => new BackendEndpoint($"10.0.0.{i + 1}", 80)).ToArray();
        var source = new EndpointSource("p");
        source.Publish(endpoints);
        using var balancer = new Balancer(source, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin));

        // Fill each endpoint to its load (0 to 5 requests in flight), with picks held open.
        var held = new List<PickResult>();
        for (var i = 0; i < endpoints.Length; i++)
        {
            for (var n = 0; n < loads.Get[i] % 6; n++)
            {
                held.Add(balancer.PickExcluding([.. endpoints.Where((_, k) => k != i)]));
            }
        }

        var set = balancer.Source.Current;
        var before = set.EndpointArray.Select((_, k) => set.StateArray[k].InFlight).ToArray();
        var pick = balancer.PickExcluding([], max);
        var index = pick.Endpoint is { } e ? Array.IndexOf(set.EndpointArray, e) : -1;
        pick.Release();
        held.ForEach(h => h.Release());

        return (before.Any(load => load < max)
                ? index >= 0 && before[index] < max
                : pick.Status == PickStatus.NoEndpoint)
            .Label($"loads {string.Join(",", before)}, limit {max}, picked {index}");
    }

    [Fact(Timeout = 30_000)]
    public async Task WithALimit_ConcurrentPicksNeverTakeAnEndpointPastIt()
    {
        var endpoints = TestEndpoints.Make(3);
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.Random));
        var picks = new System.Collections.Concurrent.ConcurrentBag<PickResult>();
        using var start = new Barrier(4);

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            start.SignalAndWait(TimeSpan.FromSeconds(10));
            for (var i = 0; i < 200; i++)
            {
                var pick = balancer.PickExcluding([], maxInFlight: 2);
                if (pick.HasEndpoint)
                {
                    picks.Add(pick);
                }
            }
        }, TestContext.Current.CancellationToken)));

        // Nothing is released: six picks fit (two per endpoint), every later one finds the endpoints full.
        Assert.Equal(6, picks.Count);
        Assert.All(balancer.Source.Current.States, s => Assert.Equal(2, s.InFlight));
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
