using LoadBalancing.Internal;
using LoadBalancing.Tests.Support;

namespace LoadBalancing.Tests.Balancing;

public sealed class ConcurrencyTests
{
    public static TheoryData<LoadBalancingAlgorithm, bool> Cases()
    {
        var data = new TheoryData<LoadBalancingAlgorithm, bool>();
        foreach (var algorithm in Enum.GetValues<LoadBalancingAlgorithm>())
        {
            data.Add(algorithm, false);
        }

        data.Add(LoadBalancingAlgorithm.Maglev, true);
        data.Add(LoadBalancingAlgorithm.RingHash, true);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Pick_WhileAnotherThreadPublishes10000Snapshots_NeverFailsAndInFlightReturnsToZero(LoadBalancingAlgorithm algorithm, bool bounded)
    {
        const int snapshots = 10_000;
        var source = new EndpointSource("race");
        var pool = TestEndpoints.Make(40, i => 1 + (i % 3));
        source.Publish(pool.Take(10));
        var options = TestEndpoints.Options(algorithm, o =>
        {
            o.Maglev.TableSize = 251;
            o.RingHash.MinimumRingSize = 64;
            o.HashBalanceFactor = bounded ? 1.25 : null;
            o.OutlierDetection.Enabled = false;
        });
        using var balancer = new Balancer(source, options);
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<EndpointState, byte>();
        var published = 0;

        var pickers = Enumerable.Range(0, 3).Select(t => Task.Run(() =>
        {
            var random = new Random(t);
            var held = new Queue<PickResult>();
            var picks = 0;
            while (Volatile.Read(ref published) == 0 || picks < 1000)
            {
                var pick = balancer.Pick(PickContext.ForHash(random.NextUInt64()));
                if (pick.Status != PickStatus.Picked || !pool.Contains(pick.Endpoint!) || pick.State!.InFlight < 1)
                {
                    throw new InvalidOperationException($"Torn pick: {pick.Status} {pick.Endpoint} in-flight {pick.State?.InFlight}");
                }

                seen.TryAdd(pick.State, 0);
                held.Enqueue(pick);
                if (held.Count > 8)
                {
                    held.Dequeue().Complete(random.Next(10) != 0, TimeSpan.FromTicks(random.Next(1, 100_000)));
                }

                picks++;
            }

            while (held.Count > 0)
            {
                held.Dequeue().Complete(true, TimeSpan.Zero);
            }
        }, TestContext.Current.CancellationToken)).ToArray();

        var publisher = Task.Run(() =>
        {
            var random = new Random(99);
            for (var i = 0; i < snapshots; i++)
            {
                var size = random.Next(1, 20);
                source.Publish(pool.OrderBy(_ => random.Next()).Take(size));
            }

            Volatile.Write(ref published, 1);
        }, TestContext.Current.CancellationToken);

        await Task.WhenAll(pickers.Append(publisher)).WaitAsync(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);

        Assert.True(source.Version >= snapshots / 2, $"only {source.Version} snapshots were published");
        Assert.All(seen.Keys, s => Assert.Equal(0, s.InFlight));
        Assert.Equal(0, balancer.TotalInFlight);
    }
}
