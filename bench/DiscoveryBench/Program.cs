// Discovery performance on loopback, against the fake API server the tests use (same process):
//   1. a slice change on the server reaching a new picker: latency percentiles over sequential changes;
//   2. a Service of 10,000 endpoints in 100 slices: from start to a built picker;
//   3. memory retained per endpoint (discovery's view, endpoint sets, pickers), server's share subtracted;
//   4. a storm of 100,000 MODIFIED events: publications per second and memory after a full GC.
//
//   dotnet run -c Release --project bench/DiscoveryBench
using System.Diagnostics;
using System.Text.Json.Nodes;
using LoadBalancing;
using LoadBalancing.Kubernetes;
using LoadBalancing.Kubernetes.Tests.Support;
using static LoadBalancing.Kubernetes.Tests.Support.Slices;

Console.WriteLine($".NET {Environment.Version}, {Environment.ProcessorCount} cores, server GC: {System.Runtime.GCSettings.IsServerGC}");
await ChangeLatencyAsync(changes: 1_000);
await BigServiceAsync(runs: 5);
await RetainedMemoryAsync();
await StormAsync(events: 100_000);

static KubernetesDiscoveryOptions Options(string url, string ns, string service, TimeSpan? minPublish = null)
{
    var options = new KubernetesDiscoveryOptions { ApiServer = url, MinPublishInterval = minPublish ?? TimeSpan.Zero };
    options.Services.Add(new ServiceReference { Namespace = ns, Name = service, Port = "http" });
    return options;
}

static Task<EndpointSet> WhenAsync(EndpointSource source, Func<EndpointSet, bool> condition)
{
    var done = new TaskCompletionSource<EndpointSet>(TaskCreationOptions.RunContinuationsAsynchronously);
    IDisposable? subscription = null;
    subscription = source.Subscribe(set =>
    {
        if (condition(set) && done.TrySetResult(set))
        {
            subscription?.Dispose();
        }
    });
    if (condition(source.Current))
    {
        done.TrySetResult(source.Current);
    }

    return done.Task.WaitAsync(TimeSpan.FromSeconds(60));
}

static JsonObject BigSlice(int index, int endpoints, int generation = 0) =>
    Slice($"big-{index:D3}", "big", [.. Enumerable.Range(0, endpoints).Select(i => new Ep([$"10.{index / 250}.{index % 250}.{(i + generation) % 250 + 1}"]))]);

static async Task ChangeLatencyAsync(int changes)
{
    await using var server = await FakeApiServer.StartAsync();
    server.Apply("bench", Slice("web-1", "web", [.. Enumerable.Range(1, 10).Select(i => new Ep([$"10.0.0.{i}"]))]));
    await using var discovery = new KubernetesDiscovery(Options(server.Url, "bench", "web"));
    var source = discovery.GetSource("bench", "web", "http");
    using var balancer = new Balancer(source, new BalancerOptions { Algorithm = LoadBalancingAlgorithm.Maglev });
    await discovery.StartAsync(CancellationToken.None);
    var latencies = new List<double>(changes);
    for (var i = 0; i < changes + 50; i++)
    {
        var marker = $"10.0.1.{i % 250 + 1}";
        var reached = WhenAsync(source, s => s.Endpoints.Any(e => e.Address == marker) && balancer.Status.EndpointSetVersion == s.Version);
        var watch = Stopwatch.StartNew();
        server.Apply("bench", Slice("web-1", "web", [.. Enumerable.Range(1, 9).Select(j => new Ep([$"10.0.0.{j}"])), new Ep([marker])]));
        await reached;
        if (i >= 50)
        {
            latencies.Add(watch.Elapsed.TotalMilliseconds); // the first 50 warm up JIT and connections
        }
    }

    latencies.Sort();
    Console.WriteLine($"1. slice change -> new picker ({changes} sequential changes, maglev, 10 endpoints): p50 {Percentile(latencies, 50):F2} ms, p99 {Percentile(latencies, 99):F2} ms, max {latencies[^1]:F2} ms");
}

static async Task BigServiceAsync(int runs)
{
    await using var server = await FakeApiServer.StartAsync();
    for (var s = 0; s < 100; s++)
    {
        server.Apply("bench", BigSlice(s, 100));
    }

    var times = new List<double>();
    for (var run = 0; run < runs + 1; run++)
    {
        var watch = Stopwatch.StartNew();
        await using var discovery = new KubernetesDiscovery(Options(server.Url, "bench", "big"));
        var source = discovery.GetSource("bench", "big", "http");
        using var balancer = new Balancer(source, new BalancerOptions { Algorithm = LoadBalancingAlgorithm.Maglev });
        await discovery.StartAsync(CancellationToken.None);
        await WhenAsync(source, s => s.Count == 10_000 && balancer.Status.EndpointSetVersion == s.Version);
        if (run > 0)
        {
            times.Add(watch.Elapsed.TotalMilliseconds); // run 0 warms up
        }
    }

    times.Sort();
    Console.WriteLine($"2. 10,000 endpoints in 100 slices, start -> list -> maglev picker: median {Percentile(times, 50):F1} ms, max {times[^1]:F1} ms ({runs} runs)");
}

static async Task RetainedMemoryAsync()
{
    // The server's own share: the same slices applied to a second server with nobody watching.
    long serverShare;
    {
        await using var idle = await FakeApiServer.StartAsync();
        var before = Heap();
        for (var s = 0; s < 100; s++)
        {
            idle.Apply("bench", BigSlice(s, 100));
        }

        idle.Compact();
        serverShare = Heap() - before;
        GC.KeepAlive(idle);
    }

    await using var server = await FakeApiServer.StartAsync();
    server.Apply("bench", Slice("seed", "big", [new Ep(["10.255.0.1"])]));
    await using var discovery = new KubernetesDiscovery(Options(server.Url, "bench", "big"));
    var source = discovery.GetSource("bench", "big", "http");
    using var balancer = new Balancer(source, new BalancerOptions { Algorithm = LoadBalancingAlgorithm.Maglev });
    await discovery.StartAsync(CancellationToken.None);
    await WhenAsync(source, s => s.Count == 1);
    var baseline = Heap();
    for (var s = 0; s < 100; s++)
    {
        server.Apply("bench", BigSlice(s, 100));
    }

    await WhenAsync(source, s => s.Count == 10_001 && balancer.Status.EndpointSetVersion == s.Version);
    server.Compact(); // the server forgets its event log, as a real one compacts
    var grown = Heap() - baseline - serverShare;
    Console.WriteLine($"3. retained for 10,000 endpoints (view, endpoint set, states, maglev picker): {grown / 1024.0:F0} KiB = {grown / 10_000.0:F0} bytes per endpoint (server's {serverShare / 1024.0:F0} KiB subtracted)");
    GC.KeepAlive(balancer);
}

static async Task StormAsync(int events)
{
    await using var server = await FakeApiServer.StartAsync();
    server.Apply("bench", BigSlice(0, 100));
    server.Apply("bench", Slice("other-1", "other", [new Ep(["10.254.0.1"])]));
    var options = Options(server.Url, "bench", "big", minPublish: TimeSpan.FromMilliseconds(100));
    options.Services.Add(new ServiceReference { Namespace = "bench", Name = "other", Port = "http" });
    await using var discovery = new KubernetesDiscovery(options);
    var source = discovery.GetSource("bench", "big", "http");
    using var balancer = new Balancer(source, new BalancerOptions { Algorithm = LoadBalancingAlgorithm.Maglev });
    await discovery.StartAsync(CancellationToken.None);
    await WhenAsync(source, s => s.Count == 100);
    var before = Heap();
    var publications = 0;
    using var counting = source.Subscribe(_ => Interlocked.Increment(ref publications));

    var watch = Stopwatch.StartNew();
    for (var i = 1; i <= events; i++)
    {
        server.Apply("bench", BigSlice(0, 100, generation: i % 50));
        if (i % 10_000 == 0)
        {
            server.Compact(); // bounded server log; the watch has read up to here or will get a 410 and relist
        }
    }

    var last = $"10.0.0.{(events % 50 + 99) % 250 + 1}";
    await WhenAsync(source, s => s.Endpoints.Any(e => e.Address == last));
    var seconds = watch.Elapsed.TotalSeconds;
    server.Compact();
    var after = Heap();
    Console.WriteLine($"4. storm of {events:N0} MODIFIED events (100-endpoint slice) in {seconds:F1} s: {publications} publications ({publications / seconds:F1} per second, bound 10/s at MinPublishInterval 100 ms); heap after full GC {before / 1024.0 / 1024:F1} -> {after / 1024.0 / 1024:F1} MiB");
}

static long Heap()
{
    GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
    GC.WaitForPendingFinalizers();
    GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
    return GC.GetTotalMemory(forceFullCollection: true);
}

static double Percentile(List<double> sorted, double p) => sorted[(int)Math.Min(sorted.Count - 1, Math.Ceiling(p / 100 * sorted.Count) - 1)];
