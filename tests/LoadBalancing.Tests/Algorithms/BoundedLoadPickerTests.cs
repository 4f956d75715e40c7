using FsCheck;
using FsCheck.Xunit;
using LoadBalancing.Algorithms;
using LoadBalancing.Tests.Support;

namespace LoadBalancing.Tests.Algorithms;

public sealed class BoundedLoadPickerTests
{
    [Property(MaxTest = 40)]
    public bool Pick_NoEndpointExceedsItsCapWhileAnotherIsUnderIt(PositiveInt count, int seed, bool maglev)
    {
        var n = 1 + (count.Get % 40);
        var random = new Random(seed);
        var factor = 1.0 + (random.Next(0, 100) / 100.0);
        var endpoints = TestEndpoints.Make(n, _ => random.Next(1, 4));
        var options = TestEndpoints.Options(
            maglev ? LoadBalancingAlgorithm.Maglev : LoadBalancingAlgorithm.RingHash,
            o => { o.HashBalanceFactor = factor; o.Maglev.TableSize = 4099; });
        using var balancer = TestEndpoints.Balancer(endpoints, options, random: new Random(seed));
        var picker = (BoundedLoadPicker)balancer.CurrentPicker;
        var held = new Queue<PickResult>();

        for (var step = 0; step < 600; step++)
        {
            // A skewed key population (a few hot keys), with requests completing at random.
            var key = (ulong)random.Next(0, 8) * 0x9E3779B97F4A7C15UL;
            var total = balancer.TotalInFlight;
            var caps = Enumerable.Range(0, n).Select(i => picker.Cap(i, total)).ToArray();
            var loads = picker.States.Select(s => s.InFlight).ToArray();
            var pick = balancer.Pick(PickContext.ForHash(key));
            var chosen = Array.IndexOf(picker.Endpoints, pick.Endpoint);

            var anyRoom = Enumerable.Range(0, n).Any(i => loads[i] + 1 <= caps[i]);
            if (anyRoom && loads[chosen] + 1 > caps[chosen])
            {
                return false;
            }

            held.Enqueue(pick);
            while (held.Count > 0 && random.Next(3) == 0)
            {
                held.Dequeue().Complete(true, TimeSpan.Zero);
            }
        }

        return true;
    }

    [Fact]
    public void Pick_SameKeyWhenItsEndpointIsFull_AlwaysSpillsToTheSamePlace()
    {
        var endpoints = TestEndpoints.Make(10);
        var options = TestEndpoints.Options(LoadBalancingAlgorithm.Maglev, o => o.HashBalanceFactor = 1.0);
        using var balancer = TestEndpoints.Balancer(endpoints, options);
        var key = PickContext.ForHash(12345);
        var home = balancer.Pick(key);

        // The home endpoint holds one request with one in total: cap 1 is full, so the key spills.
        var spills = Enumerable.Range(0, 5).Select(_ =>
        {
            var p = balancer.Pick(key);
            var endpoint = p.Endpoint;
            p.Complete(true, TimeSpan.Zero);
            return endpoint;
        }).ToArray();

        Assert.All(spills, e => Assert.NotEqual(home.Endpoint, e));
        Assert.Single(spills.Distinct());
        home.Complete(true, TimeSpan.Zero);
        Assert.Equal(home.Endpoint, balancer.PickAndComplete(key));
    }

    [Fact]
    public void Pick_WithoutLoad_IsThePlainTable()
    {
        var endpoints = TestEndpoints.Make(20);
        using var plain = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.RingHash));
        using var bounded = TestEndpoints.Balancer(endpoints, TestEndpoints.Options(LoadBalancingAlgorithm.RingHash, o => o.HashBalanceFactor = 1.25));

        foreach (var key in PickerBuilder.RandomKeys(200, 9))
        {
            Assert.Equal(plain.PickAndComplete(PickContext.ForHash(key)), bounded.PickAndComplete(PickContext.ForHash(key)));
        }
    }
}
