using LoadBalancing.Kubernetes.Tests.Support;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;
using static LoadBalancing.Kubernetes.Tests.Support.Slices;

namespace LoadBalancing.Kubernetes.Tests.Watching;

/// <summary>
/// Freshness is confirmed, not inferred from a watch being open: with the default options, a confirmation loop
/// checks the view against the API server, applies what the watch failed to deliver, and reports one signal per
/// cause. Driven by an injected clock; every failure names the promise it broke.
/// </summary>
public sealed class ConfirmationTests
{
    private static readonly TimeSpan HangToPicker = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task WatchHangingSilently_ChangesReachTheSourceWithin20s_EveryTime_AndStayReady()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await Harness.CreateAsync(time: time);
        var check = new KubernetesDiscoveryHealthCheck(h.Discovery);
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        for (var i = 0; i < 50; i++)
        {
            h.Server.FailNextWatch(Fault.Hang); // every watch: headers, then silence
        }

        var watcher = h.Discovery.Namespaces.Single();
        var established = watcher.NextEstablishedAsync();
        await h.StartAsync();
        await established.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        var random = new Random(16);
        for (var run = 1; run <= 10; run++)
        {
            // The watch was open (and silent) before the change: a miss, not a reconnect.
            Assert.True(watcher.EstablishedSession >= 0);
            // A deploy at a random point of the confirmation cycle.
            await h.AdvanceAsync(TimeSpan.FromSeconds(random.Next(0, 10_000) / 1000.0));
            var address = $"10.0.1.{run}";
            established = watcher.NextEstablishedAsync(); // the watch the drift restart opens
            h.Server.Apply(h.Namespace, Slice("web-1", "web", [new([address])]));
            var changedAt = time.GetUtcNow();
            while (!h.Source().Current.Addresses().SequenceEqual([$"{address}:8080"]))
            {
                Assert.True(time.GetUtcNow() - changedAt <= HangToPicker, $"Promise broken: run {run}: a change made while the watch hangs did not reach the source within {HangToPicker.TotalSeconds} s.");
                await h.AdvanceAsync(TimeSpan.FromMilliseconds(500));
                var health = await check.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);
                Assert.True(health.Status == HealthStatus.Healthy, $"Promise broken: run {run}: readiness went {health.Status} ({health.Description}) while the confirmations kept the view current.");
            }

            await established.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        }

        Assert.True(h.Counter("lb.kubernetes.drift.corrections") == 10, $"Promise broken: 10 changes the hung watch missed were counted as {h.Counter("lb.kubernetes.drift.corrections")} drift corrections.");
        Assert.True(h.Counter("lb.kubernetes.watch.restarts|cause=drift") == 10, "Promise broken: the watch was not restarted after each drift.");
    }

    [Fact]
    public async Task ServerDroppingEvents_DriftCountsExactlyTheMissedChanges()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await Harness.CreateAsync(time: time);
        for (var i = 1; i <= 4; i++)
        {
            h.Server.Apply(h.Namespace, Slice($"web-{i}", "web", [new([$"10.0.0.{i}"])]));
        }

        var established = h.Discovery.Namespaces.Single().NextEstablishedAsync();
        await h.StartAsync();
        await established.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);

        h.Server.DropEvents = true;
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.1.1"])]));
        h.Server.Apply(h.Namespace, Slice("web-5", "web", [new(["10.0.1.5"])]));
        h.Server.Delete(h.Namespace, "web-2");
        await h.AdvanceAsync(TimeSpan.FromSeconds(15));
        h.Server.DropEvents = false;

        Assert.Equal(["10.0.0.3:8080", "10.0.0.4:8080", "10.0.1.1:8080", "10.0.1.5:8080"], h.Source().Current.Addresses());
        Assert.True(h.Counter("lb.kubernetes.drift.corrections") == 3, $"Promise broken: 3 dropped events were counted as {h.Counter("lb.kubernetes.drift.corrections")} drift corrections.");

        // Delivered events again: no more drift.
        await h.NextRequestAsync(watch: true);
        h.Server.Apply(h.Namespace, Slice("web-3", "web", [new(["10.0.1.3"])]));
        await h.Source().WaitForAsync(s => s.Addresses().Contains("10.0.1.3:8080"), "the delivered change");
        await h.AdvanceAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(3, h.Counter("lb.kubernetes.drift.corrections"));
    }

    [Fact]
    public async Task NothingMissed_Through410_429_500_DropsAndAnApiServerRestart_CountsNoDrift()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);

        // Short reconnect delays keep the injected clock's run short; drift does not depend on them.
        await using var h = await Harness.CreateAsync(o => (o.BackoffInitial, o.BackoffMax) = (TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(2)), time);
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        await h.StartAsync();
        await h.NextRequestAsync(watch: true);
        var watcher = h.Discovery.Namespaces.Single();
        var generation = 0;

        // The watch must have seen its connection cut before the next change: on the injected clock a grace period
        // could otherwise pass before the reset reaches the client, and an open-looking watch would be blamed.
        async Task DropAndSeeItAsync()
        {
            var closed = watcher.NextClosedAsync();
            h.Server.DropActiveWatches();
            await closed.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        }


        async Task ChangeAndConvergeAsync(string scenario)
        {
            // A change while the watch is down: the reconnected watch (or a confirmation, if it gets there first)
            // brings it. Then one while it is open again: the watch brings it. Neither was missed.
            var during = $"10.0.2.{++generation}";
            h.Server.Apply(h.Namespace, Slice("web-1", "web", [new([during])]));
            for (var waited = 0; waited < 60 && !h.Source().Current.Addresses().SequenceEqual([$"{during}:8080"]); waited++)
            {
                await h.AdvanceAsync(TimeSpan.FromSeconds(1));
            }

            Assert.True(h.Source().Current.Addresses().SequenceEqual([$"{during}:8080"]), $"Promise broken: after {scenario}, the view did not converge within 60 s.");
            await h.UntilWatchOpenAsync();
            var after = $"10.0.2.{++generation}";
            h.Server.Apply(h.Namespace, Slice("web-1", "web", [new([after])]));
            for (var waited = 0; waited < 60 && !h.Source().Current.Addresses().SequenceEqual([$"{after}:8080"]); waited++)
            {
                await h.AdvanceAsync(TimeSpan.FromSeconds(1));
            }

            Assert.True(h.Source().Current.Addresses().SequenceEqual([$"{after}:8080"]), $"Promise broken: a change after {scenario} did not arrive within 60 s.");
            await h.AdvanceAsync(TimeSpan.FromSeconds(30));
            Assert.True(h.Counter("lb.kubernetes.drift.corrections") == 0, $"Promise broken: {scenario}, in which no event was lost, counted {h.Counter("lb.kubernetes.drift.corrections")} drift corrections.");
        }

        h.Server.FailNextWatch(Fault.Expire);
        await DropAndSeeItAsync();
        await ChangeAndConvergeAsync("a 410 Expired");

        h.Server.FailNextWatch(Fault.TooManyRequests);
        h.Server.FailNextWatch(Fault.TooManyRequests);
        await DropAndSeeItAsync();
        await ChangeAndConvergeAsync("two 429s");

        for (var i = 0; i < 4; i++)
        {
            h.Server.FailNextWatch(Fault.ServerError);
        }

        await DropAndSeeItAsync();
        await ChangeAndConvergeAsync("four 500s");

        await DropAndSeeItAsync();
        await ChangeAndConvergeAsync("a dropped watch");

        // An API server restart: unreachable for a while, its watch cache gone when it returns.
        h.Server.Down = true;
        await DropAndSeeItAsync();
        await h.AdvanceAsync(TimeSpan.FromSeconds(20));
        h.Server.Compact();
        h.Server.Down = false;
        await ChangeAndConvergeAsync("an API server restart");
    }

    [Fact]
    public async Task ApiServerUnreachableForTenMinutes_StaysReadyAsDegraded_KeepsTheEndpoints_AndRecoversWithin5s()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await Harness.CreateAsync(time: time);
        var check = new KubernetesDiscoveryHealthCheck(h.Discovery);
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"]), new(["10.0.0.2"])]));
        await h.StartAsync();
        await h.NextRequestAsync(watch: true);

        h.Server.Down = true;
        h.Server.DropActiveWatches();
        await h.AdvanceAsync(TimeSpan.FromSeconds(10)); // past StaleAfter (60 s) from here on
        for (var minute = 1; minute <= 10; minute++)
        {
            await h.AdvanceAsync(TimeSpan.FromMinutes(1));
            var health = await check.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);
            Assert.True(health.Status == HealthStatus.Degraded, $"Promise broken: {minute} min into an API server outage the health check says {health.Status} ({health.Description}), not Degraded.");
            Assert.Contains("cannot be reached", health.Description, StringComparison.Ordinal);
            Assert.Equal(ConfirmationProblem.SourceUnreachable, h.Source().LastConfirmationProblem);
            Assert.Equal(2, h.Source().Current.Count);
            Assert.Null(h.Discovery.Wedged());
        }

        Assert.Equal(ViewStatus.StaleUnreachable, h.Discovery.Freshness.Single().Status);
        h.Server.Down = false;
        var cleared = time.GetUtcNow();
        while ((await check.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status != HealthStatus.Healthy)
        {
            Assert.True(time.GetUtcNow() - cleared <= TimeSpan.FromSeconds(5), "Promise broken: the view was not confirmed within 5 s of the API server returning.");
            await h.AdvanceAsync(TimeSpan.FromMilliseconds(250));
        }

        Assert.Equal(ConfirmationProblem.None, h.Source().LastConfirmationProblem);
        Assert.True(h.Source().Staleness() <= TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task ViewThatCannotConverge_WhileTheApiServerAnswers_TurnsUnhealthy_ThenWedged()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await Harness.CreateAsync(time: time);
        var check = new KubernetesDiscoveryHealthCheck(h.Discovery);
        var liveness = new KubernetesDiscoveryLivenessCheck(h.Discovery);
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        await h.StartAsync();
        await h.NextRequestAsync(watch: true);

        // Confirmed once first: a view that never was is a different signal (never synced), and the first confirmation
        // waits for the publisher this test is about to block.
        for (var i = 0; i < 30 && h.Discovery.Freshness.Single().Status != ViewStatus.Current; i++)
        {
            await h.AdvanceAsync(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(ViewStatus.Current, h.Discovery.Freshness.Single().Status);

        // A subscriber downstream of discovery blocks: the publisher is stuck, the view never reaches the balancers.
        using var release = new ManualResetEventSlim();
        using var blocked = new SemaphoreSlim(0);
        using var subscription = h.Source().Subscribe(_ =>
        {
            blocked.Release();
            release.Wait(TimeSpan.FromSeconds(60));
        });
        try
        {
            h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.2"])]));
            Assert.True(await blocked.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken));

            await h.AdvanceAsync(TimeSpan.FromSeconds(70), throughPublisherWaits: true);
            var health = await check.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);
            Assert.True(health.Status == HealthStatus.Unhealthy, $"Promise broken: a view that cannot converge while the API server answers is {health.Status} ({health.Description}).");
            Assert.Contains("although the API server answers", health.Description, StringComparison.Ordinal);
            Assert.Equal(ConfirmationProblem.NotConverging, h.Source().LastConfirmationProblem);
            Assert.Equal(HealthStatus.Healthy, (await liveness.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);

            // Stuck for longer than WedgedAfter (2 min): liveness fails so the kubelet restarts the process.
            await h.AdvanceAsync(TimeSpan.FromSeconds(60), throughPublisherWaits: true);
            var live = await liveness.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);
            Assert.True(live.Status == HealthStatus.Unhealthy, $"Promise broken: a publisher stuck for over 2 min left liveness {live.Status}.");
            Assert.Contains("publisher", live.Description, StringComparison.Ordinal);
        }
        finally
        {
            release.Set();
        }
    }

    [Fact]
    public async Task WedgedLoops_FailLivenessWithinTwiceTheBound_AndAFreshStartConverges()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var server = await FakeApiServer.StartAsync();
        await using var h = await Harness.CreateAsync(time: time, server: server);
        var liveness = new KubernetesDiscoveryLivenessCheck(h.Discovery);
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        await h.StartAsync();
        await h.NextRequestAsync(watch: true);

        // Starved or deadlocked: every loop blocks at its next attempt and never comes back.
        var blockedLoops = 0;
        var firstBlockedTicks = 0L;
        var bothBlocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Discovery.Hooks.BeforeAttempt = stop =>
        {
            Interlocked.CompareExchange(ref firstBlockedTicks, time.GetUtcNow().UtcTicks, 0);
            if (Interlocked.Increment(ref blockedLoops) == 2)
            {
                bothBlocked.TrySetResult();
            }

            return Task.Delay(Timeout.Infinite, stop);
        };
        h.Server.DropActiveWatches();

        // Both loops (watch and confirmation) must be stuck before liveness is asked: the clock runs their waits out
        // in no real time, and a loop still unwinding in real time would beat its heartbeat after liveness had named it.
        for (var step = 0; !bothBlocked.Task.IsCompleted; step++)
        {
            Assert.True(step < 100, "the discovery loops never reached their next attempts");
            time.Advance(TimeSpan.FromSeconds(2));
            await Task.WhenAny(bothBlocked.Task, Task.Delay(TimeSpan.FromMilliseconds(100), TestContext.Current.CancellationToken));
        }

        var wedgedAt = new DateTimeOffset(Interlocked.Read(ref firstBlockedTicks), TimeSpan.Zero);
        var bound = h.Discovery.WedgedAfter;
        // Until liveness names the loops themselves (a publisher that lags the injected clock may be named first).
        HealthCheckResult live;
        while (!((live = await liveness.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status == HealthStatus.Unhealthy
            && live.Description!.Contains("has made no attempt", StringComparison.Ordinal)))
        {
            Assert.True(time.GetUtcNow() - wedgedAt <= 2 * bound, $"Promise broken: wedged discovery loops were not reported within twice the {bound.TotalSeconds} s bound.");
            time.Advance(TimeSpan.FromSeconds(5));
        }

        Assert.True(time.GetUtcNow() - wedgedAt > TimeSpan.FromSeconds(60), "Promise broken: liveness failed long before its bound (a false restart).");
        Assert.Equal(ViewStatus.Wedged, h.Discovery.Freshness.Single().Status);

        // What the kubelet's restart amounts to: a new discovery, which lists and converges.
        var options = new KubernetesDiscoveryOptions { ApiServer = server.Url };
        options.Services.Add(new ServiceReference { Namespace = h.Namespace, Name = "web", Port = "http" });
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.9"])]));
        await using var restarted = new KubernetesDiscovery(options);
        await restarted.StartAsync(TestContext.Current.CancellationToken);
        Assert.Equal(["10.0.0.9:8080"], restarted.GetSource(h.Namespace, "web", "http").Current.Addresses());
    }

    [Fact]
    public async Task WatchLoopThatEnds_FailsLivenessAtOnce()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await Harness.CreateAsync(time: time);
        var liveness = new KubernetesDiscoveryLivenessCheck(h.Discovery);
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        await h.StartAsync();
        await h.NextRequestAsync(watch: true);

        h.Discovery.Hooks.BeforeAttempt = _ => throw new InvalidOperationException("a defect");
        var ended = h.Discovery.WhenAnyLoopEndsAsync();

        // The dropped watch backs off; the clock moves through the backoff to the loop's next attempt.
        h.Discovery.Namespaces.Single().BackingOff += delay => time.Advance(delay);
        h.Server.DropActiveWatches();
        await ended.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        var live = await liveness.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);

        Assert.True(live.Status == HealthStatus.Unhealthy, "Promise broken: a watch loop that ended left liveness healthy.");
        Assert.Contains("has ended", live.Description, StringComparison.Ordinal);
    }
}
