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
        var source = new EndpointSource("shared");
        source.Publish(endpoints);
        using var balancer = new Balancer(source, options, random: new Random(seed));

        // Another cluster over the same source (another route to the same Service) with requests of its own in flight:
        // they load the endpoints' shared counts but are not this balancer's, so its caps must not see them.
        using var neighbour = new Balancer(source, TestEndpoints.Options(LoadBalancingAlgorithm.Random), random: new Random(seed + 1));
        var picker = (BoundedLoadPicker)balancer.CurrentPicker;
        var held = new Queue<PickResult>();
        var neighbours = new Queue<PickResult>();

        for (var step = 0; step < 600; step++)
        {
            // A skewed key population (a few hot keys), with requests completing at random.
            var key = (ulong)random.Next(0, 8) * 0x9E3779B97F4A7C15UL;
            var total = balancer.TotalInFlight;
            var caps = Enumerable.Range(0, n).Select(i => picker.Cap(i, total)).ToArray();
            var loads = Enumerable.Range(0, n).Select(picker.InFlight).ToArray();
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
                if (random.Next(4) == 0)
                {
                    held.Dequeue().Release();
                }
                else
                {
                    held.Dequeue().Complete(true, TimeSpan.Zero);
                }
            }

            neighbours.Enqueue(neighbour.Pick());
            while (neighbours.Count > 0 && random.Next(3) == 0)
            {
                neighbours.Dequeue().Complete(true, TimeSpan.Zero);
            }

            // Every count is this balancer's alone: its total and the sum of its per-endpoint counts agree.
            if (balancer.TotalInFlight != held.Count || Enumerable.Range(0, n).Sum(picker.InFlight) != held.Count)
            {
                return false;
            }
        }

        return true;
    }

    [Fact]
    public void Pick_AnotherBalancersLoadOnTheSameSource_DoesNotSpillTheKey()
    {
        var source = new EndpointSource("shared");
        source.Publish(TestEndpoints.Make(10));
        using var bounded = new Balancer(source, TestEndpoints.Options(LoadBalancingAlgorithm.Maglev, o => o.HashBalanceFactor = 1.25));
        using var plain = new Balancer(source, TestEndpoints.Options(LoadBalancingAlgorithm.Maglev));
        var key = PickContext.ForHash(0xC0FFEE);
        var home = plain.Pick(key);

        // Another cluster over the same Service holds 50 requests on the key's endpoint; this balancer holds none at all.
        var held = Enumerable.Range(0, 49).Select(_ => plain.Pick(key)).Append(home).ToArray();
        Assert.All(held, p => Assert.Equal(home.Endpoint, p.Endpoint));
        Assert.Equal(50, home.State!.InFlight);

        Assert.Equal(home.Endpoint, bounded.PickAndComplete(key));

        // Its own load still bounds it: with its one request held on the home endpoint, the next request spills.
        var own = bounded.Pick(key);
        Assert.Equal(home.Endpoint, own.Endpoint);
        Assert.NotEqual(home.Endpoint, bounded.PickAndComplete(key));
        own.Complete(true, TimeSpan.Zero);
        foreach (var pick in held)
        {
            pick.Complete(true, TimeSpan.Zero);
        }
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
