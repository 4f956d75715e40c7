using FsCheck;
using FsCheck.Xunit;
using LoadBalancing.Tests.Support;

namespace LoadBalancing.Tests.Algorithms;

public sealed class LeastRequestPickerTests
{
    [Fact]
    public void Pick_TwoEndpoints_AlwaysTakesTheLessLoaded()
    {
        var endpoints = TestEndpoints.Make(2);
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.LeastRequest), random: new Random(7));
        var held = Enumerable.Range(0, 3).Select(_ => balancer.Pick()).ToList(); // loads now 2 and 1, or 1 and 2

        for (var i = 0; i < 100; i++)
        {
            var lighter = balancer.Source.Current.States.Select(s => s.InFlight).Min();
            var pick = balancer.Pick();
            Assert.True(pick.State!.InFlight - 1 == lighter, "picked the busier endpoint");
            held.Add(pick);
        }

        // Distinct choices with two endpoints means both are always compared: loads stay within one.
        var loads = balancer.Source.Current.States.Select(s => s.InFlight).ToArray();
        Assert.InRange(Math.Abs(loads[0] - loads[1]), 0, 1);
        held.ForEach(p => p.Complete(true, TimeSpan.Zero));
        Assert.All(balancer.Source.Current.States, s => Assert.Equal(0, s.InFlight));
    }

    [Property(MaxTest = 40)]
    public bool Pick_HeldRequests_KeepLoadsBalanced(PositiveInt count, int seed)
    {
        // Power of two choices: the most loaded stays within about log2(ln n) of the mean (Azar et al.).
        var n = 2 + (count.Get % 30);
        using var balancer = TestEndpoints.Balancer(TestEndpoints.Make(n), TestEndpoints.Options(LoadBalancingAlgorithm.LeastRequest), random: new Random(seed));

        for (var i = 0; i < n * 20; i++)
        {
            balancer.Pick();
        }

        var loads = balancer.Source.Current.States.Select(s => s.InFlight).ToArray();
        return loads.Max() - loads.Average() <= (Math.Log(Math.Log(n)) / Math.Log(2)) + 2;
    }

    [Fact]
    public void Pick_ChoiceCountAtLeastN_TakesTheGlobalMinimum()
    {
        var endpoints = TestEndpoints.Make(5);
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.LeastRequest, o => o.LeastRequest.ChoiceCount = 5), random: new Random(3));

        for (var i = 0; i < 50; i++)
        {
            var min = balancer.Source.Current.States.Min(s => s.InFlight);
            Assert.Equal(min, balancer.Pick().State!.InFlight - 1);
        }
    }

    [Fact]
    public void Pick_ChoiceCountThree_SamplesDistinctEndpoints()
    {
        // Three distinct of four always include one of the two least loaded, so the pick is never
        // above the second-lowest load; repeated samples (say the busiest three times) would break that.
        var endpoints = TestEndpoints.Make(4);
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.LeastRequest, o => o.LeastRequest.ChoiceCount = 3), random: new Random(5));

        for (var i = 0; i < 400; i++)
        {
            var secondLowest = balancer.Source.Current.States.Select(s => s.InFlight).Order().ElementAt(1);
            var pick = balancer.Pick();
            Assert.True(pick.State!.InFlight - 1 <= secondLowest, $"picked load {pick.State.InFlight - 1} above the second-lowest {secondLowest}");
        }
    }

    [Fact]
    public void Pick_UnequalWeights_LoadFollowsWeights()
    {
        // weight / (active + 1): with requests held, a weight-3 endpoint carries about three times the load.
        var endpoints = TestEndpoints.Make(2, i => i == 0 ? 3 : 1);
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.LeastRequest), random: new Random(11));

        for (var i = 0; i < 400; i++)
        {
            balancer.Pick();
        }

        var loads = balancer.Source.Current.States.Select(s => s.InFlight).ToArray();
        Assert.InRange((double)loads[0] / loads[1], 2.8, 3.2);
    }

    [Fact]
    public void Pick_UnequalWeightsIdleCluster_SplitsByWeight()
    {
        // Requests complete at once, so every endpoint is idle at each pick: shares follow weights.
        var endpoints = TestEndpoints.Make(2, i => i == 0 ? 3 : 1);
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.LeastRequest), random: new Random(12));

        var heavy = 0;
        for (var i = 0; i < 40_000; i++)
        {
            heavy += balancer.PickAndComplete(PickContext.None).Equals(endpoints[0]) ? 1 : 0;
        }

        Assert.InRange(heavy / 40_000.0, 0.73, 0.77);
    }
}
