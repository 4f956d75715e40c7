using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LoadBalancing.Tests.Support;

namespace LoadBalancing.Tests.Balancing;

/// <summary>
/// Topology hints with <see cref="BalancerOptions.Zone"/>, as kube-proxy applies them: all hinted, some for our zone →
/// only those; any endpoint unhinted, or none hinted for our zone → all of them.
/// </summary>
public sealed class ZoneHintTests
{
    private static readonly string[] Zones = ["a", "b", "c"];

    [Property(MaxTest = 200)]
    public Property PicksFollowTheHints_ExactlyAsKubeProxyFiltersEndpoints(PositiveInt count, int hintBits, int unhintedMask, LoadBalancingAlgorithm algorithm)
    {
        // Each endpoint is hinted for a subset of the zones (three bits of hintBits each), or not at all.
        var n = 1 + (count.Get % 9);
        var endpoints = Enumerable.Range(0, n).Select(i =>
        {
            var hinted = (unhintedMask & (1 << i)) == 0;
            var forZones = hinted ? Zones.Where((_, z) => (hintBits >> ((3 * i) % 30) & (1 << z)) != 0).ToArray() : [];
            return new BackendEndpoint(TestEndpoints.Address(i), 8080, forZones: forZones);
        }).ToArray();
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(algorithm, o => o.Zone = "a"));

        var allHinted = endpoints.All(e => e.ForZones.Count > 0);
        var local = endpoints.Where(e => e.ForZones.Contains("a")).ToArray();
        var expected = allHinted && local.Length > 0 ? local : endpoints;
        var picked = new HashSet<BackendEndpoint>();
        for (var i = 0; i < 10 * n; i++)
        {
            var pick = balancer.Pick(PickContext.ForHash((ulong)i * 0x9E3779B97F4A7C15UL));
            picked.Add(pick.Endpoint!);
            pick.Release();
        }

        return (picked.IsSubsetOf(expected)
                && balancer.Status.UsableEndpoints == expected.Length
                && balancer.Status.InZone == (expected != endpoints))
            .Label($"{n} endpoints, all hinted {allHinted}, {local.Length} for a; usable {balancer.Status.UsableEndpoints}, in zone {balancer.Status.InZone}, picked outside: {string.Join(",", picked.Except(expected))}");
    }

    [Fact]
    public void WhenTheZonesEndpointsFailTheirHealthCheck_TheOtherZonesTakeTheTraffic_AndTakeItBackAfter()
    {
        var endpoints = new[]
        {
            new BackendEndpoint("10.0.0.1", 80, zone: "a", forZones: ["a"]),
            new BackendEndpoint("10.0.0.2", 80, zone: "b", forZones: ["b"]),
            new BackendEndpoint("10.0.0.3", 80, zone: "c", forZones: ["c"]),
        };
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin, o => o.Zone = "a"));
        Assert.All(Picks(balancer, 12), e => Assert.Same(endpoints[0], e));
        Assert.True(balancer.Status.InZone);

        balancer.SetHealth(balancer.Source.Current.States[0], healthy: false);
        Assert.Equal([endpoints[1], endpoints[2]], Picks(balancer, 12).Distinct().OrderBy(e => e.Address));
        Assert.False(balancer.Status.InZone);

        balancer.SetHealth(balancer.Source.Current.States[0], healthy: true);
        Assert.All(Picks(balancer, 12), e => Assert.Same(endpoints[0], e));
    }

    [Fact]
    public void ARetryThatMustGoElsewhere_LeavesAZoneWithOneEndpoint()
    {
        var endpoints = new[]
        {
            new BackendEndpoint("10.0.0.1", 80, forZones: ["a"]),
            new BackendEndpoint("10.0.0.2", 80, forZones: ["b"]),
            new BackendEndpoint("10.0.0.3", 80, forZones: ["b"]),
        };
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin, o => o.Zone = "a"));

        var retry = balancer.PickExcluding([endpoints[0]]);

        Assert.Contains(retry.Endpoint, endpoints[1..]);
        Assert.Equal(1, retry.State!.InFlight);
        retry.Release();
        Assert.Equal(PickStatus.NoEndpoint, balancer.PickExcluding(endpoints).Status);
        Assert.All(Picks(balancer, 6), e => Assert.Same(endpoints[0], e)); // first picks stay in the zone
    }

    [Fact]
    public void WithoutAZone_HintsAreIgnored_AndAnEmptyZoneIsRefused()
    {
        var endpoints = new[] { new BackendEndpoint("10.0.0.1", 80, forZones: ["a"]), new BackendEndpoint("10.0.0.2", 80, forZones: ["b"]) };
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin));

        Assert.Equal(2, Picks(balancer, 8).Distinct().Count());
        Assert.False(balancer.Status.InZone);
        Assert.Contains("Zone must not be empty", Assert.Throws<ArgumentException>(() => new BalancerOptions { Zone = " " }.Validate()).Message, StringComparison.Ordinal);
    }

    private static List<BackendEndpoint> Picks(Balancer balancer, int count)
    {
        var picks = new List<BackendEndpoint>();
        for (var i = 0; i < count; i++)
        {
            var pick = balancer.Pick();
            picks.Add(pick.Endpoint!);
            pick.Release();
        }

        return picks;
    }
}
