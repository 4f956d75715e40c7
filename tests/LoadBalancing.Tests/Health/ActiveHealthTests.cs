using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LoadBalancing.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Tests.Health;

public sealed class ActiveHealthTests
{
    private static readonly double[] Thresholds = [0, 30, 50, 100];

    /// <summary>
    /// One byte per endpoint: bit 0 ready, bit 1 serving, bit 2 health reported, bit 3 reported healthy, bit 4 ejected.
    /// The picker's endpoints must be exactly the oracle's: eligible ∧ ¬actively unhealthy ∧ ¬ejected, or every
    /// eligible endpoint when fewer than the threshold's share are healthy.
    /// </summary>
    [Property(MaxTest = 300)]
    public Property Rebuild_AnyMixOfConditionsHealthAndEjection_UsesExactlyTheOraclesEndpoints(byte[] flags, bool assumeHealthy, byte thresholdIndex)
    {
        flags = (flags ?? []).Take(10).ToArray();
        var threshold = Thresholds[thresholdIndex % Thresholds.Length];
        var time = new FakeTimeProvider();
        var endpoints = flags.Select((f, i) => new BackendEndpoint(
            TestEndpoints.Address(i),
            8080,
            conditions: ((f & 1) != 0 ? EndpointConditions.Ready : 0) | ((f & 2) != 0 ? EndpointConditions.Serving : 0))).ToArray();
        var source = new EndpointSource("p", time);
        source.Publish(endpoints);
        using var balancer = new Balancer(source, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin, o =>
        {
            o.AssumeHealthy = assumeHealthy;
            o.PanicThresholdPercent = threshold;
            o.OutlierDetection.MaxEjectionPercent = 100;
        }), time);
        var set = source.Current;
        for (var i = 0; i < flags.Length; i++)
        {
            // The set is in canonical order, which is the order the addresses were made in.
            var state = set.States[i];
            if ((flags[i] & 16) != 0)
            {
                balancer.GetOutlierState(state)!.Eject(time.GetUtcNow(), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), "test");
            }

            if ((flags[i] & 4) != 0)
            {
                balancer.SetHealth(state, healthy: (flags[i] & 8) != 0, "test");
            }
        }

        balancer.Refresh();

        // The oracle, by brute force over the flags.
        var anyReady = flags.Any(f => (f & 1) != 0);
        var eligible = Enumerable.Range(0, flags.Length).Where(i => (flags[i] & (anyReady ? 1 : 2)) != 0).ToList();
        bool ActivelyHealthy(int i) => (flags[i] & 4) != 0 ? (flags[i] & 8) != 0 : assumeHealthy;
        var healthy = eligible.Where(i => ActivelyHealthy(i) && (flags[i] & 16) == 0).ToList();
        var panic = eligible.Count > 0 && healthy.Count * 100.0 < threshold * eligible.Count;
        var expected = (panic ? eligible : healthy).Select(i => endpoints[i]).OrderBy(e => e.Address, StringComparer.Ordinal).ToArray();

        var actual = balancer.CurrentPicker.Endpoints.OrderBy(e => e.Address, StringComparer.Ordinal).ToArray();
        var status = balancer.Status;
        return (expected.SequenceEqual(actual)
                && status.InPanic == panic
                && status.EligibleEndpoints == eligible.Count
                && status.HealthyEndpoints == healthy.Count
                && status.UnhealthyEndpoints == eligible.Count(i => !ActivelyHealthy(i))
                && status.EjectedEndpoints == eligible.Count(i => (flags[i] & 16) != 0))
            .Label($"expected [{string.Join(", ", expected.Select(e => e.Address))}] got [{string.Join(", ", actual.Select(e => e.Address))}], panic {status.InPanic} (expected {panic})");
    }

    [Fact]
    public void SetHealth_UnhealthyThenHealthy_TakesTheEndpointOutAndBackWithEvents()
    {
        var time = new FakeTimeProvider();
        var endpoints = TestEndpoints.Make(4);
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin), time);
        var changes = new List<BalancerChange>();
        balancer.Changed += changes.Add;
        var state = balancer.Source.Current.States[2];

        Assert.True(balancer.SetHealth(state, healthy: false, "HTTP 503"));
        Assert.False(balancer.SetHealth(state, healthy: false, "HTTP 503"));

        Assert.False(balancer.IsHealthy(state));
        Assert.Equal(1, balancer.Status.UnhealthyEndpoints);
        Assert.DoesNotContain(endpoints[2], Picks(balancer, 40));
        var down = Assert.Single(changes);
        Assert.Equal(BalancerChangeKind.EndpointUnhealthy, down.Kind);
        Assert.Equal(endpoints[2], down.Endpoint);
        Assert.Equal("HTTP 503", down.Reason);

        Assert.True(balancer.SetHealth(state, healthy: true, "HTTP 200"));

        Assert.Contains(endpoints[2], Picks(balancer, 40));
        Assert.Equal(BalancerChangeKind.EndpointHealthy, changes[^1].Kind);
        Assert.Equal(0, balancer.Status.UnhealthyEndpoints);
    }

    [Fact]
    public void AssumeHealthyOff_NewEndpoint_GetsNoPickUntilReportedHealthy()
    {
        var time = new FakeTimeProvider();
        var endpoints = TestEndpoints.Make(3);
        var source = new EndpointSource("p", time);
        source.Publish(endpoints[..2]);
        using var balancer = new Balancer(source, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin, o =>
        {
            o.AssumeHealthy = false;
            o.PanicThresholdPercent = 0;
        }), time);
        foreach (var state in source.Current.States)
        {
            balancer.SetHealth(state, healthy: true);
        }

        source.Publish(endpoints);

        Assert.DoesNotContain(endpoints[2], Picks(balancer, 40));
        Assert.True(balancer.SetHealth(source.Current.States[2], healthy: true, "HTTP 200"));
        Assert.Contains(endpoints[2], Picks(balancer, 40));
    }

    [Fact]
    public void SetHealth_EndpointLeavesAndReturns_ItsReportIsForgotten()
    {
        var endpoints = TestEndpoints.Make(3);
        var source = new EndpointSource("p");
        source.Publish(endpoints);
        using var balancer = new Balancer(source, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin));
        var old = source.Current.States[1];
        balancer.SetHealth(old, healthy: false, "connect refused");

        source.Publish([endpoints[0], endpoints[2]]);
        source.Publish(endpoints);

        Assert.False(balancer.SetHealth(old, healthy: false), "a state that left the set is not reported on");
        Assert.True(balancer.IsHealthy(source.Current.States[1]));
        Assert.Contains(endpoints[1], Picks(balancer, 30));
    }

    [Fact]
    public void SetHealth_MostUnhealthy_PanicPicksAmongAllEligible()
    {
        var endpoints = TestEndpoints.Make(4);
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin));
        var changes = new List<BalancerChange>();
        balancer.Changed += changes.Add;
        for (var i = 0; i < 3; i++)
        {
            balancer.SetHealth(balancer.Source.Current.States[i], healthy: false, "timeout after 2s");
        }

        Assert.True(balancer.Status.InPanic);
        Assert.Equal(4, Picks(balancer, 40).Distinct().Count());
        Assert.Contains(changes, c => c.Kind == BalancerChangeKind.PanicEntered);
    }

    private static List<BackendEndpoint> Picks(Balancer balancer, int count) =>
        Enumerable.Range(0, count).Select(_ => balancer.PickAndComplete(PickContext.None)).ToList();
}
