using FsCheck;
using FsCheck.Xunit;
using LoadBalancing.Internal;
using LoadBalancing.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Tests.Balancing;

public sealed class BalancerTests
{
    public static TheoryData<LoadBalancingAlgorithm> Algorithms => new(Enum.GetValues<LoadBalancingAlgorithm>());

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Pick_EmptySource_SaysNoEndpoint(LoadBalancingAlgorithm algorithm)
    {
        using var balancer = new Balancer(new EndpointSource("empty"), TestEndpoints.Options(algorithm));

        var result = balancer.Pick(PickContext.ForHash(42));

        Assert.Equal(PickStatus.NoEndpoint, result.Status);
        Assert.False(result.HasEndpoint);
        result.Complete(true, TimeSpan.Zero); // harmless
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Pick_NoUsableEndpoint_ReturnsTheFallback(LoadBalancingAlgorithm algorithm)
    {
        var fallback = new BackendEndpoint("127.0.0.53", 80);
        var endpoints = TestEndpoints.Make(2).Select(e => e.WithConditions(EndpointConditions.None)).ToArray();
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(algorithm, o => o.Fallback = fallback));

        var result = balancer.Pick();

        Assert.Equal(PickStatus.Fallback, result.Status);
        Assert.Equal(fallback, result.Endpoint);
        Assert.Equal(1, result.State!.InFlight);
        result.Complete(false, TimeSpan.FromMilliseconds(3));
        Assert.Equal(0, result.State.InFlight);
    }

    [Fact]
    public void PickFallback_ReturnsTheFallback_EvenWhenEndpointsAreUsable()
    {
        var fallback = new BackendEndpoint("127.0.0.53", 80);
        using var balancer = TestEndpoints.Balancer(TestEndpoints.Make(3), TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin, o => o.Fallback = fallback));
        using var none = TestEndpoints.Balancer(TestEndpoints.Make(3), TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin));

        var pick = balancer.PickFallback();

        Assert.Equal(PickStatus.Fallback, pick.Status);
        Assert.Equal(fallback, pick.Endpoint);
        Assert.Equal(1, pick.State!.InFlight);
        pick.Complete(true, TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, pick.State.InFlight);
        Assert.Equal(PickStatus.NoEndpoint, none.PickFallback().Status);
    }

    [Fact]
    public void Release_DropsInFlight_WithoutLearningAnything()
    {
        using var balancer = TestEndpoints.Balancer(TestEndpoints.Make(1), TestEndpoints.Options(LoadBalancingAlgorithm.PeakEwma));

        var pick = balancer.Pick();
        Assert.Equal(1, pick.State!.InFlight);
        pick.Release();

        Assert.Equal(0, pick.State.InFlight);
        Assert.Null(pick.State.LatencyEstimate);
        Assert.Equal(0, balancer.GetOutlierState(pick.State)!.ConsecutiveFailures);
    }

    [Fact]
    public void Pick_SomeReady_UsesOnlyReadyOnes()
    {
        var endpoints = TestEndpoints.Make(3);
        endpoints[0] = endpoints[0].WithConditions(EndpointConditions.Serving | EndpointConditions.Terminating);
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin));

        var picked = Enumerable.Range(0, 10).Select(_ => balancer.PickAndComplete(PickContext.None)).ToHashSet();

        Assert.Equal(new HashSet<BackendEndpoint> { endpoints[1], endpoints[2] }, picked);
    }

    [Fact]
    public void Pick_NoneReady_FallsBackToServingTerminatingOnes()
    {
        // kube-proxy's rule: during a full rollout, terminating-but-serving pods beat dropping traffic.
        var endpoints = new[]
        {
            new BackendEndpoint("127.0.0.1", 80, conditions: EndpointConditions.Serving | EndpointConditions.Terminating),
            new BackendEndpoint("127.0.0.2", 80, conditions: EndpointConditions.Terminating),
        };
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin));

        var picked = Enumerable.Range(0, 6).Select(_ => balancer.PickAndComplete(PickContext.None)).ToHashSet();

        Assert.Equal(new HashSet<BackendEndpoint> { endpoints[0] }, picked);
        Assert.Equal(1, balancer.Status.EligibleEndpoints);
    }

    [Property(MaxTest = 60)]
    public bool Pick_AnyAlgorithm_ReturnsAnEndpointOfTheCurrentSnapshotAndNeverAnEjectedOneOutsidePanic(
        PositiveInt count, int seed, NonNegativeInt algorithmIndex)
    {
        var algorithms = Enum.GetValues<LoadBalancingAlgorithm>();
        var algorithm = algorithms[algorithmIndex.Get % algorithms.Length];
        var random = new Random(seed);
        var time = new FakeTimeProvider();
        var source = new EndpointSource("p", time);
        var options = TestEndpoints.Options(algorithm, o =>
        {
            o.Maglev.TableSize = 1009;
            o.OutlierDetection.ConsecutiveFailures = 2;
            o.OutlierDetection.MaxEjectionPercent = 100;
            o.PanicThresholdPercent = random.Next(0, 2) * 50;
        });
        using var balancer = new Balancer(source, options, time, new Random(seed));

        for (var round = 0; round < 20; round++)
        {
            var n = 1 + random.Next(0, 1 + (count.Get % 30));
            var set = source.Publish(Enumerable.Range(0, n).Select(i => new BackendEndpoint(TestEndpoints.Address(random.Next(0, 60)), 80 + i, random.Next(1, 5))).DistinctBy(e => e.HashKey));
            for (var i = 0; i < 30; i++)
            {
                var pick = balancer.Pick(PickContext.ForHash(random.NextUInt64()));
                if (pick.Status == PickStatus.NoEndpoint)
                {
                    // Only legitimate when every endpoint is ejected and panic mode is off (Envoy's 0 % threshold).
                    if (balancer.Status.HealthyEndpoints != 0 || balancer.Status.InPanic || options.PanicThresholdPercent != 0)
                    {
                        return false;
                    }

                    continue;
                }

                if (pick.Status != PickStatus.Picked || !set.Endpoints.Contains(pick.Endpoint!))
                {
                    return false;
                }

                if (!balancer.Status.InPanic && balancer.GetOutlierState(pick.State!)?.EjectedUntil is { } until && until > time.GetUtcNow())
                {
                    return false;
                }

                pick.Complete(random.Next(0, 4) != 0, TimeSpan.FromMilliseconds(random.Next(1, 50)));
            }

            time.Advance(TimeSpan.FromSeconds(random.Next(0, 40)));
        }

        return true;
    }

    [Fact]
    public void Publish_KeptEndpoint_KeepsItsInFlightCountAcrossTheSwap()
    {
        var endpoints = TestEndpoints.Make(3);
        var source = new EndpointSource("web");
        source.Publish(endpoints);
        using var balancer = new Balancer(source, TestEndpoints.Options(LoadBalancingAlgorithm.LeastRequest));
        var held = Enumerable.Range(0, 6).Select(_ => balancer.Pick()).ToList();

        source.Publish(endpoints.Take(2).Append(new BackendEndpoint("127.9.0.1", 80)));
        held.ForEach(p => p.Complete(true, TimeSpan.Zero));

        Assert.All(balancer.Source.Current.States, s => Assert.Equal(0, s.InFlight));
        Assert.Equal(2, balancer.Status.EndpointSetVersion);
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsNamingKeyAndValue()
    {
        var options = new BalancerOptions { Algorithm = LoadBalancingAlgorithm.Maglev, Maglev = { TableSize = 65536 } };

        var error = Assert.Throws<ArgumentException>(() => new Balancer(new EndpointSource("web"), options));

        Assert.Contains("Maglev.TableSize", error.Message, StringComparison.Ordinal);
        Assert.Contains("65536", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("HashBalanceFactor", 0.5)]
    [InlineData("RingHash.MinimumRingSize", 0)]
    [InlineData("LeastRequest.ChoiceCount", 1)]
    [InlineData("PanicThresholdPercent", 120)]
    public void Validate_BadValue_NamesTheKey(string key, double value)
    {
        var options = new BalancerOptions();
        switch (key)
        {
            case "HashBalanceFactor": options.HashBalanceFactor = value; break;
            case "RingHash.MinimumRingSize": options.RingHash.MinimumRingSize = (int)value; break;
            case "LeastRequest.ChoiceCount": options.LeastRequest.ChoiceCount = (int)value; break;
            case "PanicThresholdPercent": options.PanicThresholdPercent = value; break;
        }

        var error = Assert.Single(options.GetValidationErrors());

        Assert.StartsWith(key, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_MinRingAboveMaxRing_NamesBoth()
    {
        var options = new BalancerOptions { RingHash = { MinimumRingSize = 2048, MaximumRingSize = 1024 } };

        var error = Assert.Single(options.GetValidationErrors());

        Assert.Contains("RingHash.MinimumRingSize (2048)", error, StringComparison.Ordinal);
        Assert.Contains("RingHash.MaximumRingSize (1024)", error, StringComparison.Ordinal);
    }
}
