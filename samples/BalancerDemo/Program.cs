// Shows the balancers at work on simulated backends: five servers, one ten times slower, one
// that fails half its requests; a steady stream of requests. For each algorithm it prints who got
// the traffic and what the clients saw. Then it shows what consistent hashing keeps when a
// server goes away.
using System.Globalization;
using BalancerDemo;
using LoadBalancing;

var backends = new[]
{
    new Backend("127.0.0.11", TimeSpan.FromMilliseconds(20), 0.0),
    new Backend("127.0.0.12", TimeSpan.FromMilliseconds(20), 0.0),
    new Backend("127.0.0.13", TimeSpan.FromMilliseconds(200), 0.0), // slow
    new Backend("127.0.0.14", TimeSpan.FromMilliseconds(20), 0.5),  // flaky
    new Backend("127.0.0.15", TimeSpan.FromMilliseconds(20), 0.0),
};

Console.WriteLine("20,000 requests, one every 0.5 ms; .13 is 10x slower, .14 fails half its requests.");
Console.WriteLine();
Console.WriteLine($"{"algorithm",-13} {"share per backend (.11 .12 .13 .14 .15)",-44} {"failed",7} {"mean ms",8} {"p99 ms",7}");
foreach (var algorithm in Enum.GetValues<LoadBalancingAlgorithm>())
{
    Simulate(algorithm, backends);
}

Console.WriteLine();
ShowAffinity(LoadBalancingAlgorithm.Maglev);
ShowAffinity(LoadBalancingAlgorithm.RingHash);

static void Simulate(LoadBalancingAlgorithm algorithm, Backend[] backends)
{
    var clock = new SimulatedClock();
    var source = new EndpointSource("demo", clock);
    source.Publish(backends.Select(b => new BackendEndpoint(b.Address, 8080)));
    var options = new BalancerOptions { Algorithm = algorithm };
    options.OutlierDetection.MaxEjectionPercent = 20;
    using var balancer = new Balancer(source, options, clock, new Random(1));

    var random = new Random(2);
    var pending = new PriorityQueue<(PickResult Pick, bool Ok, TimeSpan Latency), TimeSpan>();
    var hits = new Dictionary<string, int>();
    var latencies = new List<double>();
    var failed = 0;
    for (var i = 0; i < 20_000; i++)
    {
        var now = TimeSpan.FromMilliseconds(i * 0.5);
        while (pending.TryPeek(out var done, out var at) && at <= now)
        {
            pending.Dequeue();
            clock.AdvanceTo(at);
            done.Pick.Complete(done.Ok, done.Latency);
        }

        clock.AdvanceTo(now);
        var pick = balancer.Pick(PickContext.ForHash((ulong)random.NextInt64()));
        var backend = backends.First(b => b.Address == pick.Endpoint!.Address);
        var latency = backend.Latency * (0.5 + random.NextDouble());
        var ok = random.NextDouble() >= backend.FailureRate;
        hits[backend.Address] = hits.GetValueOrDefault(backend.Address) + 1;
        latencies.Add(latency.TotalMilliseconds);
        failed += ok ? 0 : 1;
        pending.Enqueue((pick, ok, latency), now + latency);
    }

    latencies.Sort();
    var shares = string.Join(" ", backends.Select(b => (hits.GetValueOrDefault(b.Address) / 200.0).ToString("0.0", CultureInfo.InvariantCulture).PadLeft(5) + "%"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{algorithm,-13} {shares,-44} {failed,7} {latencies.Average(),8:0.0} {latencies[(int)(latencies.Count * 0.99)],7:0.0}"));
}

static void ShowAffinity(LoadBalancingAlgorithm algorithm)
{
    var endpoints = Enumerable.Range(1, 10).Select(i => new BackendEndpoint($"127.0.1.{i}", 8080)).ToArray();
    var source = new EndpointSource("affinity");
    source.Publish(endpoints);
    using var balancer = new Balancer(source, new BalancerOptions { Algorithm = algorithm });
    var users = Enumerable.Range(0, 10_000).Select(i => RequestKey.FromString($"user-{i}")).ToArray();

    var before = users.Select(k => Owner(balancer, k)).ToArray();
    source.Publish(endpoints.Skip(1));
    var after = users.Select(k => Owner(balancer, k)).ToArray();

    var kept = Enumerable.Range(0, users.Length).Count(i => before[i] != endpoints[0] && before[i] == after[i]);
    var survivors = before.Count(e => e != endpoints[0]);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{algorithm}: 10 servers, one removed; {kept * 100.0 / survivors:0.0}% of the other servers' users stay where they were (optimum 100%)."));

    static BackendEndpoint Owner(Balancer balancer, ulong key)
    {
        var pick = balancer.Pick(PickContext.ForHash(key));
        pick.Complete(true, TimeSpan.Zero);
        return pick.Endpoint!;
    }
}

internal sealed record Backend(string Address, TimeSpan Latency, double FailureRate);
