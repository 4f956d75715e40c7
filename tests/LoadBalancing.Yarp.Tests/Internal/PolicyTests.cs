using LoadBalancing.Yarp.Feedback;
using LoadBalancing.Yarp.Internal;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace LoadBalancing.Yarp.Tests.Internal;

/// <summary>The policies called as YARP's load-balancing middleware calls them, without a server.</summary>
public sealed class PolicyTests : IDisposable
{
    private readonly ServiceProvider _services;
    private readonly ClusterBalancers _balancers;

    public PolicyTests()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddReverseProxy().AddLoadBalancingPolicies();
        _services = services.BuildServiceProvider();
        _balancers = _services.GetRequiredService<ClusterBalancers>();
    }

    public void Dispose() => _services.Dispose();

    [Fact]
    public void AddLoadBalancingPolicies_RegistersEveryNameNextToYarpsOwn()
    {
        var names = _services.GetServices<ILoadBalancingPolicy>().Select(p => p.Name).ToArray();

        Assert.Equal(names.Length, names.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        foreach (var name in new[]
        {
            LoadBalancingPolicyNames.Maglev, LoadBalancingPolicyNames.RingHash, LoadBalancingPolicyNames.PeakEwma,
            LoadBalancingPolicyNames.LeastRequest, LoadBalancingPolicyNames.RoundRobin, LoadBalancingPolicyNames.Random,
            LoadBalancingPolicies.PowerOfTwoChoices, LoadBalancingPolicies.RoundRobin,
        })
        {
            Assert.Contains(name, names);
        }
    }

    [Fact]
    public void PickDestination_SameListAgain_PublishesOnce()
    {
        var (cluster, destinations) = Cluster(3);
        var policy = Policy(LoadBalancingPolicyNames.RoundRobin);

        for (var i = 0; i < 100; i++)
        {
            Assert.True(Array.IndexOf(destinations, policy.PickDestination(new DefaultHttpContext(), cluster, destinations)) >= 0);
        }

        var balancer = _balancers.Get(cluster, LoadBalancingAlgorithm.RoundRobin);
        Assert.Equal(1, balancer.Balancer.Source.Version);
        Assert.Same(destinations, balancer.CurrentMirror.List);
    }

    [Fact]
    public void PickDestination_NewListWithTheSameDestinations_KeepsTheMirror()
    {
        var (cluster, destinations) = Cluster(3);
        var policy = Policy(LoadBalancingPolicyNames.RoundRobin);
        policy.PickDestination(new DefaultHttpContext(), cluster, destinations);
        var balancer = _balancers.Get(cluster, LoadBalancingAlgorithm.RoundRobin);
        var mirror = balancer.CurrentMirror;

        var copy = destinations.ToList();
        policy.PickDestination(new DefaultHttpContext(), cluster, copy);
        policy.PickDestination(new DefaultHttpContext(), cluster, copy);

        Assert.Same(mirror, balancer.CurrentMirror);
        Assert.Same(copy, mirror.Alias);
        Assert.Equal(1, balancer.Balancer.Source.Version);
    }

    [Fact]
    public void PickDestination_ListShrinks_PicksOnlyFromTheNewList()
    {
        var (cluster, destinations) = Cluster(4);
        var policy = Policy(LoadBalancingPolicyNames.Random);
        policy.PickDestination(new DefaultHttpContext(), cluster, destinations);

        var fewer = destinations.Take(2).ToArray();
        var picked = new HashSet<DestinationState>();
        for (var i = 0; i < 200; i++)
        {
            picked.Add(policy.PickDestination(new DefaultHttpContext(), cluster, fewer)!);
        }

        // DestinationState is a list of itself, so xunit would compare it as a collection: compare references instead.
        Assert.True(picked.SetEquals(fewer), $"picked {picked.Count} destinations");
        Assert.Equal(2, _balancers.Get(cluster, LoadBalancingAlgorithm.Random).Balancer.Source.Version);
    }

    [Fact]
    public void PickDestination_WeightMetadata_SplitsByWeight()
    {
        var (cluster, destinations) = Cluster(2, weight: i => i == 0 ? "3" : null);
        var policy = Policy(LoadBalancingPolicyNames.RoundRobin);

        var counts = new int[2];
        for (var i = 0; i < 400; i++)
        {
            counts[Array.IndexOf(destinations, policy.PickDestination(new DefaultHttpContext(), cluster, destinations))]++;
        }

        // One thread walks one smooth round-robin schedule: exactly 3 : 1 over whole cycles.
        Assert.Equal([300, 100], counts);
    }

    [Fact]
    public void PickDestination_WithoutFeedback_LeavesNothingInFlight()
    {
        var (cluster, destinations) = Cluster(3);
        var policy = Policy(LoadBalancingPolicyNames.LeastRequest);

        for (var i = 0; i < 10; i++)
        {
            policy.PickDestination(new DefaultHttpContext(), cluster, destinations);
        }

        Assert.All(_balancers.Get(cluster, LoadBalancingAlgorithm.LeastRequest).Balancer.Source.Current.States, s => Assert.Equal(0, s.InFlight));
    }

    [Fact]
    public void PickDestination_WithFeedback_CountsInFlightUntilTheOutcome()
    {
        var (cluster, destinations) = Cluster(3);
        var policy = Policy(LoadBalancingPolicyNames.PeakEwma);
        var context = new DefaultHttpContext();
        var feedback = new PickFeedback();
        context.Features.Set(feedback);

        var picked = policy.PickDestination(context, cluster, destinations);
        var states = _balancers.Get(cluster, LoadBalancingAlgorithm.PeakEwma).Balancer.Source.Current.States;
        Assert.Equal(1, states.Sum(s => s.InFlight));

        feedback.Finish(picked, 200, null);

        Assert.Equal(0, states.Sum(s => s.InFlight));
        Assert.Single(states, s => s.LatencyEstimate is not null);
    }

    [Theory]
    [InlineData(ForwarderError.Request, true)]
    [InlineData(ForwarderError.RequestTimedOut, true)]
    [InlineData(ForwarderError.ResponseBodyDestination, true)]
    [InlineData(ForwarderError.RequestCanceled, false)]
    [InlineData(ForwarderError.RequestBodyClient, false)]
    [InlineData(ForwarderError.ResponseBodyClient, false)]
    public void Finish_ForwarderError_CountsOnlyTheDestinationsFaults(ForwarderError error, bool counted)
    {
        var (cluster, destinations) = Cluster(2);
        var policy = Policy(LoadBalancingPolicyNames.RoundRobin);
        var context = new DefaultHttpContext();
        var feedback = new PickFeedback();
        context.Features.Set(feedback);

        var picked = policy.PickDestination(context, cluster, destinations);
        feedback.Finish(picked, 502, new ErrorFeature(error));

        var balancer = _balancers.Get(cluster, LoadBalancingAlgorithm.RoundRobin).Balancer;
        var states = balancer.Source.Current.States;
        Assert.Equal(counted ? 1 : 0, states.Sum(s => balancer.GetOutlierState(s)!.ConsecutiveFailures));
        Assert.Equal(0, states.Sum(s => s.InFlight));
    }

    [Fact]
    public void Finish_ProxiedElsewhere_GivesThePickBackWithoutAnOutcome()
    {
        var (cluster, destinations) = Cluster(2);
        var policy = Policy(LoadBalancingPolicyNames.RoundRobin);
        var context = new DefaultHttpContext();
        var feedback = new PickFeedback();
        context.Features.Set(feedback);

        var picked = policy.PickDestination(context, cluster, destinations);
        feedback.Finish(destinations.First(d => d != picked), 500, null);

        var balancer = _balancers.Get(cluster, LoadBalancingAlgorithm.RoundRobin).Balancer;
        var states = balancer.Source.Current.States;
        Assert.All(states, s => Assert.Equal(0, balancer.GetOutlierState(s)!.ConsecutiveFailures + s.InFlight));
    }

    [Fact]
    public void PickDestination_HashKeyChangedInClusterModel_UsesTheNewKey()
    {
        var (cluster, destinations) = Cluster(5, hashKey: "header:A");
        var policy = Policy(LoadBalancingPolicyNames.Maglev);
        var context = new DefaultHttpContext();
        context.Request.Headers["A"] = "same";

        // Header B varies, A is fixed: under key A every pick lands on one destination.
        var underA = new HashSet<DestinationState>();
        for (var i = 0; i < 50; i++)
        {
            context.Request.Headers["B"] = "k" + i;
            underA.Add(policy.PickDestination(context, cluster, destinations)!);
        }

        Assert.Single(underA);

        var (changed, _) = Cluster(5, hashKey: "header:B", clusterId: cluster.ClusterId);
        var underB = new HashSet<DestinationState>();
        for (var i = 0; i < 50; i++)
        {
            context.Request.Headers["B"] = "k" + i;
            underB.Add(policy.PickDestination(context, new ClusterState(cluster.ClusterId, changed.Model), destinations)!);
        }

        Assert.True(underB.Count > 1);
    }

    private ILoadBalancingPolicy Policy(string name) =>
        _services.GetServices<ILoadBalancingPolicy>().Single(p => p.Name == name);

    private static (ClusterState Cluster, DestinationState[] Destinations) Cluster(int count, Func<int, string?>? weight = null, string? hashKey = null, string clusterId = "c")
    {
        var config = new ClusterConfig
        {
            ClusterId = clusterId,
            Metadata = hashKey is null ? null : new Dictionary<string, string> { [LoadBalancingMetadataKeys.HashKey] = hashKey },
        };
        var cluster = new ClusterState(clusterId, new ClusterModel(config, new HttpMessageInvoker(new SocketsHttpHandler())));
        var destinations = Enumerable.Range(0, count).Select(i =>
        {
            var w = weight?.Invoke(i);
            var destination = new DestinationConfig
            {
                Address = $"http://127.0.0.{i + 2}:80/",
                Metadata = w is null ? null : new Dictionary<string, string> { [LoadBalancingMetadataKeys.Weight] = w },
            };
            return new DestinationState("d" + i, new DestinationModel(destination));
        }).ToArray();
        return (cluster, destinations);
    }

    private sealed class ErrorFeature(ForwarderError error) : IForwarderErrorFeature
    {
        public ForwarderError Error => error;

        public Exception? Exception => null;
    }
}
