using LoadBalancing.Proxy.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Proxy.Tests.HealthChecks;

/// <summary>The HTTP check end to end: real backends, real probes, real requests through the proxy, time on a fake clock.</summary>
public sealed class HttpHealthCheckTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task FailingProbes_TakeTheEndpointOutAfterUnhealthyThreshold_AndPassesBringItBackAfterHealthyThreshold()
    {
        await using var a = await FlippableBackend.StartAsync("a", "127.0.0.2");
        await using var b = await FlippableBackend.StartAsync("b", "127.0.0.3");
        await using var c = await FlippableBackend.StartAsync("c", "127.0.0.4");
        var time = new FakeTimeProvider();
        var options = TestProxy.Options(LoadBalancingAlgorithm.Random, a.Address, b.Address, c.Address);
        options.Clusters["web"].HealthCheck = HealthRig.Http(unhealthy: 3, healthy: 2);
        await using var proxy = await TestProxy.StartAsync(options, time);
        using var probes = new ProbeWaiter(proxy.Runtime.Probers);
        await probes.UntilAsync(3);
        Assert.Equal("healthy", (await HealthRig.HealthAsync(proxy, "web", b.Address))!.Value.GetProperty("state").GetString());

        // Two failing probes: below the threshold, b still takes a share.
        b.HealthStatus = 503;
        for (var round = 1; round <= 2; round++)
        {
            time.Advance(Interval);
            await probes.UntilAsync(3 + (3 * round));
        }

        await HealthRig.SendAsync(proxy, 60);
        var before = b.Forwarded;
        Assert.True(before > 0, "b takes traffic before the third failure");

        // The third: out. Every request lands on the others.
        time.Advance(Interval);
        await probes.UntilAsync(12);
        await HealthRig.SendAsync(proxy, 60);
        Assert.Equal(before, b.Forwarded);
        Assert.Equal(120 - before, a.Forwarded + c.Forwarded);
        var health = (await HealthRig.HealthAsync(proxy, "web", b.Address))!.Value;
        Assert.Equal("unhealthy", health.GetProperty("state").GetString());
        Assert.Equal("HTTP 503", health.GetProperty("lastResult").GetString());
        Assert.Equal(3, health.GetProperty("streak").GetInt32());
        Assert.Equal(time.GetUtcNow(), health.GetProperty("lastChange").GetDateTimeOffset());
        Assert.Equal(time.GetUtcNow(), health.GetProperty("lastProbe").GetDateTimeOffset());

        // One pass is not enough to return (HealthyThreshold 2); the second is.
        b.HealthStatus = 200;
        time.Advance(Interval);
        await probes.UntilAsync(15);
        await HealthRig.SendAsync(proxy, 60);
        Assert.Equal(before, b.Forwarded);

        time.Advance(Interval);
        await probes.UntilAsync(18);
        await HealthRig.SendAsync(proxy, 60);
        Assert.True(b.Forwarded > before, "b takes traffic again after two passes");
        Assert.Equal("healthy", (await HealthRig.HealthAsync(proxy, "web", b.Address))!.Value.GetProperty("state").GetString());

        // Exactly one probe per endpoint per interval: the first at start, then one per advance.
        Assert.Equal([6, 6, 6], new[] { a.Probes, b.Probes, c.Probes });
        var probe = b.ProbeRequests.First();
        Assert.Equal("LoadBalancing-HealthCheck", probe.Headers["User-Agent"]);
        Assert.Equal(b.Address, probe.Headers["Host"]);
        Assert.Equal("close", probe.Headers["Connection"]);
    }

    [Fact]
    public async Task Reloads_ThatKeepOrRebuildTheCluster_NeitherRestartNorDoubleTheProbes()
    {
        await using var a = await FlippableBackend.StartAsync("a", "127.0.0.5");
        await using var b = await FlippableBackend.StartAsync("b", "127.0.0.6");
        var time = new FakeTimeProvider();
        ProxyOptions Options(LoadBalancingAlgorithm algorithm, int maxAttempts)
        {
            var options = TestProxy.Options(algorithm, a.Address, b.Address);
            options.Clusters["web"].HealthCheck = HealthRig.Http();
            options.Clusters["web"].MaxAttempts = maxAttempts;
            return options;
        }

        await using var proxy = await TestProxy.StartAsync(Options(LoadBalancingAlgorithm.RoundRobin, 3), time);
        using var probes = new ProbeWaiter(proxy.Runtime.Probers);
        await probes.UntilAsync(2);
        var first = proxy.Cluster();

        // Forwarding only: the same cluster stays.
        Assert.Equal(ReloadOutcome.Applied, proxy.Runtime.Reload(Options(LoadBalancingAlgorithm.RoundRobin, 2), [], "test").Outcome);
        Assert.Same(first, proxy.Cluster());
        time.Advance(Interval);
        await probes.UntilAsync(4);

        // A new algorithm: a new cluster and balancer over the same endpoints; the probers carry over.
        Assert.Equal(ReloadOutcome.Applied, proxy.Runtime.Reload(Options(LoadBalancingAlgorithm.LeastRequest, 2), [], "test").Outcome);
        Assert.NotSame(first, proxy.Cluster());
        Assert.Equal(2, proxy.Runtime.Probers.Count);
        for (var round = 1; round <= 3; round++)
        {
            time.Advance(Interval);
            await probes.UntilAsync(4 + (2 * round));
        }

        Assert.Equal(2, proxy.Runtime.Probers.Count);
        Assert.Equal(10, probes.Completed);
        Assert.Equal([5, 5], new[] { a.Probes, b.Probes });
    }

    [Fact]
    public async Task TwoClusters_SameEndpointsAndSettings_ShareOneProberPerEndpoint()
    {
        await using var a = await FlippableBackend.StartAsync("a", "127.0.0.7");
        await using var b = await FlippableBackend.StartAsync("b", "127.0.0.8");
        var time = new FakeTimeProvider();
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, a.Address, b.Address);
        options.Clusters["web"].HealthCheck = HealthRig.Http(unhealthy: 1);
        var api = new ClusterOptions { Algorithm = LoadBalancingAlgorithm.LeastRequest, HealthCheck = HealthRig.Http(unhealthy: 1) };
        api.Endpoints.Add(new EndpointOptions { Address = a.Address });
        api.Endpoints.Add(new EndpointOptions { Address = b.Address });
        options.Clusters["api"] = api;
        options.Routes.Insert(0, new ProxyRouteOptions { Path = "/api", Cluster = "api" });

        // The proxy builds its clusters one after the other, and the first probes start as the first cluster joins:
        // they are held at the backends until both clusters have joined, so each cluster counts every probe.
        var joined = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        a.HealthGate = joined;
        b.HealthGate = joined;
        await using var proxy = await TestProxy.StartAsync(options, time);
        using var probes = new ProbeWaiter(proxy.Runtime.Probers);
        Assert.Equal(2, proxy.Runtime.Clusters.Count(c => c.HealthChecks is not null));
        joined.SetResult();
        await probes.UntilAsync(2);

        b.HealthStatus = 500;
        for (var round = 1; round <= 3; round++)
        {
            time.Advance(Interval);
            await probes.UntilAsync(2 + (2 * round));
        }

        Assert.Equal(2, proxy.Runtime.Probers.Count);
        Assert.Equal([4, 4], new[] { a.Probes, b.Probes });
        foreach (var name in new[] { "web", "api" })
        {
            var cluster = proxy.Cluster(name);
            Assert.Equal(1, cluster.Balancer.Status.UnhealthyEndpoints);
            Assert.Equal(5, cluster.HealthChecks!.Passed);
            Assert.Equal(3, cluster.HealthChecks.Failed);
            Assert.Equal("unhealthy", (await HealthRig.HealthAsync(proxy, name, b.Address))!.Value.GetProperty("state").GetString());
        }
    }

    [Fact]
    public async Task InitialStateUnhealthy_NewEndpointGetsNoRequestBeforeItsFirstPass()
    {
        await using var a = await FlippableBackend.StartAsync("a", "127.0.0.9");
        await using var b = await FlippableBackend.StartAsync("b", "127.0.0.10");
        await using var c = await FlippableBackend.StartAsync("c", "127.0.0.11");
        c.HealthStatus = 503;
        var time = new FakeTimeProvider();
        ProxyOptions Options(params string[] endpoints)
        {
            var options = TestProxy.Options(LoadBalancingAlgorithm.Random, endpoints);
            var check = HealthRig.Http();
            check.InitialState = HealthCheckInitialState.Unhealthy;
            options.Clusters["web"].HealthCheck = check;
            return options;
        }

        await using var proxy = await TestProxy.StartAsync(Options(a.Address, b.Address), time);
        using var probes = new ProbeWaiter(proxy.Runtime.Probers);
        await probes.UntilAsync(2);

        Assert.Equal(ReloadOutcome.Applied, proxy.Runtime.Reload(Options(a.Address, b.Address, c.Address), [], "test").Outcome);
        await HealthRig.SendAsync(proxy, 30);
        await probes.UntilAsync(3);
        await HealthRig.SendAsync(proxy, 30);
        Assert.Equal(0, c.Forwarded);
        Assert.Equal("unhealthy", (await HealthRig.HealthAsync(proxy, "web", c.Address))!.Value.GetProperty("state").GetString());

        // Its first probe failed, so it needs HealthyThreshold (2) passes, as Envoy does; until then, still nothing.
        c.HealthStatus = 200;
        time.Advance(Interval);
        await probes.UntilAsync(6);
        await HealthRig.SendAsync(proxy, 30);
        Assert.Equal(0, c.Forwarded);

        time.Advance(Interval);
        await probes.UntilAsync(9);
        await HealthRig.SendAsync(proxy, 60);
        Assert.True(c.Forwarded > 0, "c takes traffic once it has passed");
    }

    [Fact]
    public async Task InitialStateUnhealthy_NewEndpointWaitsForItsFirstProbe_AndOnePassLetsItIn()
    {
        await using var a = await FlippableBackend.StartAsync("a", "127.0.0.18");
        await using var b = await FlippableBackend.StartAsync("b", "127.0.0.19");
        await using var c = await FlippableBackend.StartAsync("c", "127.0.0.20");
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        c.HealthGate = gate;
        var time = new FakeTimeProvider();
        ProxyOptions Options(params string[] endpoints)
        {
            var options = TestProxy.Options(LoadBalancingAlgorithm.Random, endpoints);
            var check = HealthRig.Http();
            check.InitialState = HealthCheckInitialState.Unhealthy;
            options.Clusters["web"].HealthCheck = check;
            return options;
        }

        await using var proxy = await TestProxy.StartAsync(Options(a.Address, b.Address), time);
        using var probes = new ProbeWaiter(proxy.Runtime.Probers);
        await probes.UntilAsync(2);

        // c joins; its first probe is held at the backend: until it answers, c gets nothing.
        Assert.Equal(ReloadOutcome.Applied, proxy.Runtime.Reload(Options(a.Address, b.Address, c.Address), [], "test").Outcome);
        await c.ProbeWaiting.Task.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        await HealthRig.SendAsync(proxy, 30);
        Assert.Equal(0, c.Forwarded);
        Assert.Equal("unknown", (await HealthRig.HealthAsync(proxy, "web", c.Address))!.Value.GetProperty("state").GetString());

        gate.SetResult();
        await probes.UntilAsync(3);
        await HealthRig.SendAsync(proxy, 60);
        Assert.True(c.Forwarded > 0, "one pass lets a new endpoint in");
        Assert.Equal("healthy", (await HealthRig.HealthAsync(proxy, "web", c.Address))!.Value.GetProperty("state").GetString());
    }
}
