using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LoadBalancing.Tests.Support;

namespace LoadBalancing.Tests.Balancing;

/// <summary>Session affinity's pick: back to the named endpoint while the balancer would use it, and nothing otherwise.</summary>
public sealed class PickAffinityTests
{
    [Property(MaxTest = 100)]
    public Property EveryUsableEndpoint_IsFoundByItsKey_AndCountedInFlight(PositiveInt count, LoadBalancingAlgorithm algorithm, ulong stranger)
    {
        var endpoints = TestEndpoints.Make(1 + (count.Get % 40));
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(algorithm));

        foreach (var endpoint in endpoints)
        {
            var pick = balancer.PickAffinity(endpoint.AffinityKey);
            var found = pick.Endpoint == endpoint && pick.Status == PickStatus.Picked && pick.State!.InFlight == 1;
            pick.Release();
            if (!found)
            {
                return false.Label($"{endpoint} not found by its key ({pick.Status}, {pick.Endpoint})");
            }
        }

        // A key no endpoint has (a 64-bit collision with one of 40 keys is not a case worth a branch).
        var unknown = balancer.PickAffinity(stranger);
        unknown.Release();
        return (endpoints.Any(e => e.AffinityKey == stranger) || unknown.Status == PickStatus.NoEndpoint)
            .Label($"a key of no endpoint gave {unknown.Status}")
            .And(balancer.Source.Current.States.All(s => s.InFlight == 0)).Label("every pick released");
    }

    [Fact]
    public void AnEndpointFailingItsHealthCheck_OrGone_IsNotPicked_AndIsAgainWhenBack()
    {
        var endpoints = TestEndpoints.Make(3);
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin));
        var state = balancer.Source.Current.States[1];

        balancer.SetHealth(state, healthy: false);
        Assert.Equal(PickStatus.NoEndpoint, balancer.PickAffinity(endpoints[1].AffinityKey).Status);
        Assert.Equal(0, state.InFlight);

        balancer.SetHealth(state, healthy: true);
        var back = balancer.PickAffinity(endpoints[1].AffinityKey);
        Assert.Same(endpoints[1], back.Endpoint);
        back.Release();

        balancer.Source.Publish([endpoints[0], endpoints[2]]);
        Assert.Equal(PickStatus.NoEndpoint, balancer.PickAffinity(endpoints[1].AffinityKey).Status);
        Assert.Same(endpoints[2], PickAndRelease(balancer, endpoints[2].AffinityKey));
    }

    [Fact]
    public void TheKey_IsTheHashOfTheEndpointsHashKey_SoAnExplicitKeyFollowsThePodAcrossAddresses()
    {
        var before = new BackendEndpoint("10.0.0.7", 8080, hashKey: "web-0");
        var after = new BackendEndpoint("10.0.0.9", 8080, hashKey: "web-0");
        var plain = new BackendEndpoint("10.0.0.7", 8080);

        Assert.Equal(before.AffinityKey, after.AffinityKey);
        Assert.Equal(RequestKey.FromString("web-0"), before.AffinityKey);
        Assert.Equal(RequestKey.FromString("10.0.0.7:8080"), plain.AffinityKey);
        Assert.Equal(plain.AffinityKey, new BackendEndpoint("10.0.0.7", 8080, weight: 5).AffinityKey);
        Assert.NotEqual(plain.AffinityKey, new BackendEndpoint("10.0.0.7", 8081).AffinityKey);
    }

    private static BackendEndpoint? PickAndRelease(Balancer balancer, ulong key)
    {
        var pick = balancer.PickAffinity(key);
        pick.Release();
        return pick.Endpoint;
    }
}
