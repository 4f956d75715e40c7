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
    public async Task HungWatch_IsRestartedByTheIdleWatchdog_AtItsBound()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await Harness.CreateAsync(time: time); // WatchIdleTimeout: the default 90 s
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        h.Server.FailNextWatch(Fault.Hang); // headers, then silence
        await h.StartAsync();
        await h.NextRequestAsync(watch: true);

        await h.AdvanceAsync(TimeSpan.FromSeconds(89.5));
        Assert.True(h.Counter("lb.kubernetes.watch.restarts|cause=idle") == 0, "Promise broken: the idle watchdog fired before its 90 s bound.");

        await h.AdvanceAsync(TimeSpan.FromSeconds(1));
        await h.NextRequestAsync(watch: true);
        Assert.True(h.Counter("lb.kubernetes.watch.restarts|cause=idle") == 1, "Promise broken: the idle watchdog did not fire within 1 s of its 90 s bound.");
    }

    [Fact]
    public async Task WatchTheServerNeverEnds_IsEndedByTheClientDeadline()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await Harness.CreateAsync(
            o =>
            {
                o.WatchTimeoutMin = o.WatchTimeoutMax = TimeSpan.FromMinutes(5);
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

    private static async Task<KubernetesDiscovery> NeverSyncedAsync()
    {
        var options = new KubernetesDiscoveryOptions { ApiServer = "http://127.0.0.1:1" };
        options.Services.Add(new ServiceReference { Name = "web" });
        await Task.CompletedTask;
        return new KubernetesDiscovery(options);
    }
}
