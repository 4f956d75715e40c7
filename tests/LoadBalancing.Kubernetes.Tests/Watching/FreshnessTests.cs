using LoadBalancing.Kubernetes.Tests.Support;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;
using static LoadBalancing.Kubernetes.Tests.Support.Slices;

namespace LoadBalancing.Kubernetes.Tests.Watching;

/// <summary>
/// The ways a view goes stale without anyone saying so, each driven by an injected clock: a watch that hangs
/// after its headers, one that never ends, one that misses events, and an API server that is down.
/// </summary>
public sealed class FreshnessTests
{
    [Fact]
    public async Task HungWatch_BeforeItsFirstLine_IsRestartedByTheIdleWatchdog()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await Harness.CreateAsync(o => o.WatchIdleTimeout = TimeSpan.FromSeconds(90), time);
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        h.Server.FailNextWatch(Fault.Hang); // headers, then silence
        await h.StartAsync();
        await h.NextRequestAsync(watch: true);

        // A deploy happens while the watch hangs.
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.2"])]));
        time.Advance(TimeSpan.FromSeconds(80));
        Assert.Equal(0, h.Counter("lb.kubernetes.watch.restarts|cause=idle"));

        time.Advance(TimeSpan.FromSeconds(40)); // past 90 s without a line
        await h.NextRequestAsync(watch: true);
        var set = await h.Source().WaitForAsync(s => s.Addresses().SequenceEqual(["10.0.0.2:8080"]), "the new pod after the watchdog restarted the watch");

        Assert.Equal(1, h.Counter("lb.kubernetes.watch.restarts|cause=idle"));
        Assert.Single(set.Endpoints);
    }

    [Fact]
    public async Task WatchTheServerNeverEnds_IsEndedByTheClientDeadline()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await Harness.CreateAsync(
            o =>
            {
                o.WatchTimeoutMin = o.WatchTimeoutMax = TimeSpan.FromMinutes(5);
                o.RelistInterval = TimeSpan.FromHours(1);
            },
            time);
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        await h.StartAsync();
        await h.NextRequestAsync(watch: true);

        // The server ignores timeoutSeconds=300 and keeps the stream alive with bookmarks.
        for (var minute = 1; minute <= 5; minute++)
        {
            h.Server.Bookmark(h.Namespace);
            await h.WhenCounterAsync("lb.kubernetes.watch.events|type=bookmark", minute);
            time.Advance(TimeSpan.FromMinutes(1));
        }

        Assert.Equal(0, h.Counter("lb.kubernetes.watch.restarts|cause=deadline"));
        h.Server.Bookmark(h.Namespace);
        await h.WhenCounterAsync("lb.kubernetes.watch.events|type=bookmark", 6);
        time.Advance(TimeSpan.FromSeconds(31)); // 300 s + 30 s grace

        await h.NextRequestAsync(watch: true);
        Assert.Equal(1, h.Counter("lb.kubernetes.watch.restarts|cause=deadline"));
    }

    [Fact]
    public async Task PeriodicRelist_FindsAndCorrectsDrift()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await Harness.CreateAsync(o => o.RelistInterval = TimeSpan.FromMinutes(5), time);
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        h.Server.Apply(h.Namespace, Slice("web-2", "web", [new(["10.0.0.2"])]));
        await h.StartAsync();
        await h.NextRequestAsync(watch: true);

        // Events the watch never delivers (a server-side bug, a missed event): the view drifts.
        h.Server.ApplySilently(h.Namespace, Slice("web-1", "web", [new(["10.0.0.9"])]));
        h.Server.Delete(h.Namespace, "web-2", silently: true);
        h.Server.Bookmark(h.Namespace);
        await h.WhenCounterAsync("lb.kubernetes.watch.events|type=bookmark");
        time.Advance(TimeSpan.FromMinutes(5));

        var set = await h.Source().WaitForAsync(s => s.Addresses().SequenceEqual(["10.0.0.9:8080"]), "the server's truth after the periodic relist");
        Assert.Equal(2, h.Counter("lb.kubernetes.drift.corrections"));
        Assert.Equal(2, h.Counter("lb.kubernetes.relists"));
        Assert.Single(set.Endpoints);
    }

    [Fact]
    public async Task Reconnects_BackOffExponentiallyWithJitter_UpToTheCap()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await Harness.CreateAsync(
            o =>
            {
                o.BackoffInitial = TimeSpan.FromMilliseconds(800);
                o.BackoffMax = TimeSpan.FromSeconds(30);
            },
            time);
        var delays = new List<TimeSpan>();
        var backingOff = new SemaphoreSlim(0);
        h.Discovery.Namespaces.Single().BackingOff += delay =>
        {
            lock (delays)
            {
                delays.Add(delay);
            }

            backingOff.Release();
        };
        h.Server.FailNextList(Fault.ServerError, times: 9);
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        await h.StartAsync(waitForSync: false);

        for (var attempt = 0; attempt < 9; attempt++)
        {
            Assert.True(await backingOff.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken), $"no backoff after failure {attempt + 1}");
            time.Advance(TimeSpan.FromSeconds(30));
        }

        await h.Source().WaitForAsync(s => s.Count == 1, "the pod once the API server answers");
        for (var i = 0; i < delays.Count; i++)
        {
            var ceiling = Math.Min(30_000, 800 * Math.Pow(2, i));
            Assert.InRange(delays[i].TotalMilliseconds, ceiling * 0.5, ceiling);
        }

        Assert.Equal(9, delays.Count);
        Assert.InRange(delays[^1].TotalSeconds, 15, 30); // capped

        // After a healthy minute, the next failure starts again from the first step.
        time.Advance(TimeSpan.FromSeconds(61));
        h.Server.Bookmark(h.Namespace);
        await h.WhenCounterAsync("lb.kubernetes.watch.events|type=bookmark");
        h.Server.DropActiveWatches();
        h.Server.FailNextWatch(Fault.ServerError);
        Assert.True(await backingOff.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken));
        Assert.InRange(delays[^1].TotalMilliseconds, 400, 800);
    }

    [Fact]
    public async Task ApiServerOutage_KeepsTheLastGoodEndpoints_AndSaysTheyAreStale()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await Harness.CreateAsync(
            o =>
            {
                o.StaleAfter = TimeSpan.FromMinutes(3);
                o.UnhealthyAfter = TimeSpan.FromMinutes(10);
            },
            time);
        var check = new KubernetesDiscoveryHealthCheck(h.Discovery);
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"]), new(["10.0.0.2"])]));
        await h.StartAsync();
        await h.NextRequestAsync(watch: true);
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);

        // The API server goes away: every request fails from now on.
        h.Server.FailNextWatch(Fault.ServerError);
        for (var i = 0; i < 50; i++)
        {
            h.Server.FailNextWatch(Fault.ServerError);
            h.Server.FailNextList(Fault.ServerError);
        }

        h.Server.DropActiveWatches();
        time.Advance(TimeSpan.FromMinutes(4));
        var degraded = await check.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);
        Assert.Equal(HealthStatus.Degraded, degraded.Status);
        Assert.Contains(h.Namespace, degraded.Description, StringComparison.Ordinal);
        Assert.Equal(2, h.Source().Current.Count); // still in service
        Assert.True(h.Source().Staleness() >= TimeSpan.FromMinutes(4), $"the source says it is {h.Source().Staleness()} old");

        time.Advance(TimeSpan.FromMinutes(7));
        Assert.Equal(HealthStatus.Unhealthy, (await check.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);
        Assert.Equal(2, h.Source().Current.Count);
    }

    [Fact]
    public async Task HealthCheck_RecoversWithTheView_NeverLatched()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await Harness.CreateAsync(time: time);
        var check = new KubernetesDiscoveryHealthCheck(h.Discovery);
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        h.Server.FailNextWatch(Fault.Hang);
        await h.StartAsync();
        await h.NextRequestAsync(watch: true);

        time.Advance(TimeSpan.FromSeconds(80));
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);
        Assert.Equal(HealthStatus.Unhealthy, (await new KubernetesDiscoveryHealthCheck(await NeverSyncedAsync()).CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);

        time.Advance(TimeSpan.FromSeconds(20)); // the watchdog restarts the hung watch
        await h.NextRequestAsync(watch: true);
        h.Server.Bookmark(h.Namespace);
        await h.WhenCounterAsync("lb.kubernetes.watch.events|type=bookmark");
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);
    }

    private static async Task<KubernetesDiscovery> NeverSyncedAsync()
    {
        var options = new KubernetesDiscoveryOptions { ApiServer = "http://127.0.0.1:1" };
        options.Services.Add(new ServiceReference { Name = "web" });
        await Task.CompletedTask;
        return new KubernetesDiscovery(options);
    }
}
