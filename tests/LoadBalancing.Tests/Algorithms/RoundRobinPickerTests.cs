using FsCheck;
using FsCheck.Xunit;
using LoadBalancing.Algorithms;
using LoadBalancing.Tests.Support;

namespace LoadBalancing.Tests.Algorithms;

public sealed class RoundRobinPickerTests
{
    [Fact]
    public void Schedule_NginxExample_IsSmooth()
    {
        // nginx's documented example: weights a=5, b=1, c=1 give a a b a c a a, not a a a a a b c.
        Assert.Equal([0, 0, 1, 0, 2, 0, 0], RoundRobinPicker.BuildSchedule([5, 1, 1]));
    }

    [Fact]
    public void Pick_EqualWeights_CyclesInOrder()
    {
        var endpoints = TestEndpoints.Make(3);
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin));

        var picks = Enumerable.Range(0, 6).Select(_ => balancer.PickAndComplete(PickContext.None)).ToArray();

        Assert.Equal([endpoints[0], endpoints[1], endpoints[2], endpoints[0], endpoints[1], endpoints[2]], picks);
    }

    [Property(MaxTest = 60)]
    public bool Pick_AnyWindowOfSumOfWeights_GivesEachEndpointExactlyItsWeight(NonEmptyArray<PositiveInt> rawWeights, NonNegativeInt offset)
    {
        var weights = rawWeights.Get.Take(30).Select(w => 1 + (w.Get % 20)).ToArray();
        var endpoints = TestEndpoints.Make(weights.Length, i => weights[i]);
        using var balancer = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin));
        var sum = weights.Sum();

        // Start the window anywhere in the cycle.
        for (var i = 0; i < offset.Get % sum; i++)
        {
            balancer.PickAndComplete(PickContext.None);
        }

        var counts = new Dictionary<BackendEndpoint, int>();
        for (var i = 0; i < sum; i++)
        {
            var e = balancer.PickAndComplete(PickContext.None);
            counts[e] = counts.GetValueOrDefault(e) + 1;
        }

        return endpoints.All(e => counts.GetValueOrDefault(e) == e.Weight);
    }

    [Fact]
    public void Schedule_HugeWeightSum_UsesDeadlineOrderAndKeepsExactShares()
    {
        // 3,000 endpoints with weights up to 100: past the budget for nginx's O(N) step.
        var weights = Enumerable.Range(0, 3000).Select(i => 1 + (i * 37 % 100)).ToArray();

        var schedule = RoundRobinPicker.BuildSchedule(weights);

        Assert.Equal(weights.Sum(), schedule.Length);
        var counts = new int[weights.Length];
        foreach (var i in schedule)
        {
            counts[i]++;
        }

        Assert.Equal(weights, counts);
    }

    [Fact]
    public void Pick_ManyCursors_EachCursorStillCyclesTheSchedule()
    {
        var endpoints = TestEndpoints.Make(4, i => i + 1);
        var picker = new RoundRobinPicker(PickerBuilder.Input(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin)), perThread: true);

        // Whatever core this thread is on, ten full cycles give exact shares.
        var counts = new int[4];
        for (var i = 0; i < 10 * 10; i++)
        {
            counts[picker.Pick(PickContext.None)]++;
        }

        Assert.Equal(100, counts.Sum());
        Assert.All(Enumerable.Range(0, 4), i => Assert.InRange(counts[i], ((i + 1) * 10) - 10, ((i + 1) * 10) + 10));
    }

    [Fact]
    public void Pick_ThreadsAtOnce_OverWholeCyclesGiveEachEndpointExactlyItsWeight()
    {
        // Each thread advances its own cursor with plain writes: a lost or doubled step (two threads
        // writing one cursor) would show as an endpoint one pick over or under its exact share.
        int[] weights = [1, 2, 3, 4];
        const int threads = 4;
        const int cycles = 20_000;
        var endpoints = TestEndpoints.Make(weights.Length, i => weights[i]);
        var picker = new RoundRobinPicker(PickerBuilder.Input(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.RoundRobin)), perThread: true);
        var counts = new int[threads, weights.Length];
        using var start = new Barrier(threads);

        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < cycles * weights.Sum(); i++)
            {
                counts[t, picker.Pick(PickContext.None)]++;
            }
        })).ToArray();
        foreach (var worker in workers)
        {
            worker.Start();
        }

        foreach (var worker in workers)
        {
            worker.Join();
        }

        for (var e = 0; e < weights.Length; e++)
        {
            var total = 0;
            for (var t = 0; t < threads; t++)
            {
                total += counts[t, e];
            }

            Assert.Equal(threads * cycles * weights[e], total);
        }
    }
}
