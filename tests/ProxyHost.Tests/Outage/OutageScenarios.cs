using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace ProxyHost.Tests.Outage;

/// <summary>
/// The outage behind this project, replayed: an ingress stopped watching endpoints under memory pressure, a
/// deploy replaced the pods of two important services, traffic kept going to dead pod IPs while every check
/// stayed green. Each scenario runs the real ProxyHost against a fake API server and real pods on loopback
/// under steady load, and fails naming the promise it broke.
/// </summary>
[Collection(nameof(OutageScenarios))]
public sealed class OutageScenarios
{
    [Fact]
    public async Task RollingDeploy_HealthyWatch_NoRequestFails()
    {
        await using var rig = await OutageRig.StartAsync(fallback: false);
        await using var load = new LoadLoop(rig.Client);
        await load.WhileRequestsFlowAsync();

        foreach (var service in OutageRig.Services)
        {
            foreach (var old in rig.Pods(service).ToArray())
            {
                // New pod ready, then the old one terminating (still serving), then gone: as a Deployment rolls.
                rig.Add(service, await rig.StartPodAsync(service));
                await rig.ProxySeesAsync(service, "the new pod added");
                rig.Terminate(service, old);
                await rig.ProxySeesAsync(service, $"{old.Name} terminating");
                await rig.RemoveAsync(service, old);
                await rig.ProxySeesAsync(service, $"{old.Name} gone");
                await load.WhileRequestsFlowAsync(20);
            }
        }

        await load.StopAsync();
        Assert.True(load.Failures.IsEmpty, $"Promise broken: a rolling deploy with a healthy watch failed requests ({load.Describe()}).");
        Assert.All(OutageRig.Services, service => Assert.Equal(3, rig.Pods(service).Count));
    }

    [Fact]
    public async Task RollingDeploy_WhileTheWatchHangsSilently_WithDefaultOptions_ReachesTheProxyWithin20s_AndStaysReady()
    {
        await using var rig = await OutageRig.StartAsync(fallback: true, defaults: true);
        await using var load = new LoadLoop(rig.Client);
        await load.WhileRequestsFlowAsync();

        // The watch goes silent: connected, no bytes, no bookmarks, however often it is reopened.
        for (var i = 0; i < 20; i++)
        {
            rig.Api.FailNextWatch(LoadBalancing.Kubernetes.Tests.Support.Fault.Hang);
        }

        rig.Api.DropActiveWatches();
        await WatchRequestsAsync(rig, 1);

        // The whole deploy happens while the watch hears nothing.
        var deployed = Stopwatch.StartNew();
        foreach (var service in OutageRig.Services)
        {
            foreach (var old in rig.Pods(service).ToArray())
            {
                rig.Add(service, await rig.StartPodAsync(service));
                rig.Terminate(service, old);
                await rig.RemoveAsync(service, old);
            }
        }

        var converging = OutageRig.Services.Select(service => rig.ProxySeesAsync(service, "the deployed pods, with the watch still hung", TimeSpan.FromSeconds(20))).ToArray();
        var readiness = new List<HttpStatusCode>();
        while (!converging.All(t => t.IsCompleted))
        {
            readiness.Add((await rig.AdminAsync("readyz")).Status);
            await load.WhileRequestsFlowAsync(5);
        }

        await Task.WhenAll(converging);
        var elapsed = deployed.Elapsed;
        Assert.True(readiness.All(r => r == HttpStatusCode.OK), $"Promise broken: readiness went {string.Join(",", readiness.Distinct())} while confirmations kept the view current.");
        Assert.True(elapsed <= TimeSpan.FromSeconds(20), $"Promise broken: the deploy reached the proxy {elapsed.TotalSeconds:0.0} s after it began.");
        var metrics = (await rig.AdminAsync("metrics")).Body;
        Assert.Matches("lb_kubernetes_drift_corrections_total\\{namespace=\"prod\"\\} [1-9]", metrics);
        Assert.Matches("lb_kubernetes_watch_restarts_total\\{cause=\"drift\",namespace=\"prod\"\\} [1-9]", metrics);
        await load.WhileRequestsFlowAsync(20);
        await load.StopAsync();
        Assert.True(load.Failures.IsEmpty, $"Promise broken: with a fallback configured, requests failed while the watch hung ({load.Describe()}).");
    }

    [Fact]
    public async Task AllPodsReplaced_WhileTheApiServerIsUnreachable_StaysReadyAsDegraded_AndConvergesWithin5sOfItsReturn()
    {
        await using var rig = await OutageRig.StartAsync(fallback: true);
        await using var load = new LoadLoop(rig.Client);
        await load.WhileRequestsFlowAsync();

        // The API server becomes unreachable, then every pod is replaced at once.
        rig.Api.Down = true;
        rig.Api.DropActiveWatches();
        foreach (var service in OutageRig.Services)
        {
            foreach (var old in rig.Pods(service).ToArray())
            {
                rig.Add(service, await rig.StartPodAsync(service));
                await rig.RemoveAsync(service, old);
            }
        }

        // Requests to the dead IPs are retried and the fallback carries the traffic; once the view is older than its
        // bound it is reported stale and Degraded, and the proxy stays ready: every replica is in the same position.
        await load.WhileRequestsFlowAsync(100);
        var watch = Stopwatch.StartNew();
        (HttpStatusCode Status, string Body) ready;
        var readiness = new List<HttpStatusCode>();
        do
        {
            ready = await rig.AdminAsync("readyz");
            readiness.Add(ready.Status);
            await load.WhileRequestsFlowAsync(10);
        }
        while (!(ready.Body.Contains("cluster checkout: degraded", StringComparison.Ordinal) && ready.Body.Contains("cluster catalog: degraded", StringComparison.Ordinal))
            && watch.Elapsed < TimeSpan.FromSeconds(20));

        Assert.True(readiness.All(r => r == HttpStatusCode.OK), $"Promise broken: an API server outage turned the proxy unready ({ready.Body.Trim()}).");
        Assert.Contains("cluster checkout: degraded, stale because its source cannot be reached", ready.Body, StringComparison.Ordinal);

        using (var backends = JsonDocument.Parse((await rig.AdminAsync("backends")).Body))
        {
            var checkout = backends.RootElement.GetProperty("clusters").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "checkout");
            Assert.True(checkout.GetProperty("stale").GetBoolean(), "Promise broken: /backends does not say the view is stale.");
            Assert.Equal("stale-unreachable", checkout.GetProperty("freshness").GetString());
            Assert.True(checkout.GetProperty("stalenessSeconds").GetDouble() >= 3.5, "Promise broken: /backends does not say how stale.");
            Assert.True(checkout.GetProperty("ejectedEndpoints").GetInt32() >= 1, "Promise broken: dead endpoints are not ejected.");
            Assert.True(checkout.GetProperty("fallbackRequests").GetInt64() > 0, "Promise broken: /backends does not show the fallback in use.");
        }

        var metrics = (await rig.AdminAsync("metrics")).Body;
        Assert.Contains("lb_cluster_discovery_stale{cluster=\"checkout\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("lb_cluster_discovery_degraded{cluster=\"checkout\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("lb_kubernetes_view_status{namespace=\"prod\",status=\"stale_unreachable\"} 1", metrics, StringComparison.Ordinal);
        Assert.Matches("lb_proxy_fallback_requests_total\\{cluster=\"checkout\"\\} [1-9]", metrics);
        Assert.Contains("lb_proxy_ready 1", metrics, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await rig.AdminAsync("healthz")).Status);

        // The API server returns: the view is confirmed and current within seconds, with no relist interval to wait for.
        var returned = Stopwatch.StartNew();
        rig.Api.Down = false;
        foreach (var service in OutageRig.Services)
        {
            await rig.ProxySeesAsync(service, "the replaced pods, once the API server is back", TimeSpan.FromSeconds(5));
        }

        while ((await rig.AdminAsync("readyz")).Body.Contains("degraded", StringComparison.Ordinal))
        {
            Assert.True(returned.Elapsed <= TimeSpan.FromSeconds(5), "Promise broken: the view was not confirmed within 5 s of the API server's return.");
            await load.WhileRequestsFlowAsync(5);
        }

        await load.StopAsync();
        Assert.True(load.Failures.IsEmpty, $"Promise broken: with a fallback configured, requests failed while the API server was down ({load.Describe()}).");
        Assert.True(load.AnsweredBy.GetValueOrDefault("cluster-ip") > 0, "Promise broken: no request went through the fallback.");
    }

    [Fact]
    public async Task ApiServerUnreachable_RequestsToSurvivingPods_NeverFail()
    {
        await using var rig = await OutageRig.StartAsync(fallback: false);
        await using var load = new LoadLoop(rig.Client);
        await load.WhileRequestsFlowAsync();

        rig.Api.Down = true;
        rig.Api.DropActiveWatches();
        var outage = Stopwatch.StartNew();
        while (outage.Elapsed < TimeSpan.FromSeconds(8))
        {
            Assert.Equal(HttpStatusCode.OK, (await rig.AdminAsync("readyz")).Status);
            await load.WhileRequestsFlowAsync(20);
        }

        await load.StopAsync();
        Assert.True(load.Failures.IsEmpty, $"Promise broken: requests to pods that stayed up failed while the API server was unreachable ({load.Describe()}).");
        Assert.Contains("degraded", (await rig.AdminAsync("readyz")).Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WedgedDiscovery_FailsLivenessWithinTwiceItsBound_AndARestartConverges()
    {
        await using var rig = await OutageRig.StartAsync(fallback: false);
        Assert.Equal(HttpStatusCode.OK, (await rig.AdminAsync("healthz")).Status);

        // Starved or deadlocked: every discovery loop blocks at its next attempt. The process lives on.
        rig.Discovery.Hooks.BeforeAttempt = stop => Task.Delay(Timeout.Infinite, stop);
        rig.Api.DropActiveWatches();
        var wedged = Stopwatch.StartNew();
        (HttpStatusCode Status, string Body) live;
        using var probe = new PeriodicTimer(TimeSpan.FromMilliseconds(250)); // as the kubelet probes: periodically
        while ((live = await rig.AdminAsync("healthz")).Status == HttpStatusCode.OK)
        {
            Assert.True(wedged.Elapsed <= TimeSpan.FromSeconds(8), "Promise broken: wedged discovery did not fail /healthz within twice its 4 s bound.");
            await probe.WaitForNextTickAsync(TestContext.Current.CancellationToken);
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, live.Status);
        Assert.Contains("kubernetes-discovery-liveness: Unhealthy", live.Body, StringComparison.Ordinal);

        // A deploy nobody sees while wedged; the kubelet's restart brings the view back.
        var replacement = await rig.StartPodAsync("checkout");
        rig.Add("checkout", replacement);
        await rig.RestartProxyAsync();
        await rig.ProxySeesAsync("checkout", "the added pod after the restart", TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, (await rig.AdminAsync("healthz")).Status);
        Assert.Equal(HttpStatusCode.OK, (await rig.AdminAsync("readyz")).Status);
    }

    [Fact]
    public async Task UnreadableObjectInTheNamespace_DoesNotHoldBackAnyOtherChange()
    {
        await using var rig = await OutageRig.StartAsync(fallback: false);

        // A slice a validating API server would not store (a port as a string), in the namespace both Services live in.
        var bad = LoadBalancing.Kubernetes.Tests.Support.Slices.Slice("checkout-odd", "checkout", [new(["127.0.1.99"])]);
        bad["ports"]![0]!["port"] = "8080";
        rig.Api.Apply(OutageRig.Namespace, bad);
        rig.Api.DropActiveWatches(); // the next watch resumes; a relist would read the bad object too
        var changed = Stopwatch.StartNew();
        rig.Add("catalog", await rig.StartPodAsync("catalog"));
        rig.Add("checkout", await rig.StartPodAsync("checkout"));
        await rig.ProxySeesAsync("catalog", "a new pod, next to an unreadable object", TimeSpan.FromSeconds(5));
        await rig.ProxySeesAsync("checkout", "a new pod, next to an unreadable object of its own Service", TimeSpan.FromSeconds(5));
        Assert.True(changed.Elapsed < TimeSpan.FromSeconds(5));
        Assert.Matches("lb_kubernetes_malformed_objects_total\\{namespace=\"prod\"\\} [1-9]", (await rig.AdminAsync("metrics")).Body);
        Assert.Equal(HttpStatusCode.OK, (await rig.AdminAsync("readyz")).Status);
    }

    private static async Task WatchRequestsAsync(OutageRig rig, int count)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        bound.CancelAfter(TimeSpan.FromSeconds(30));
        var seen = 0;
        while (seen < count)
        {
            if ((await rig.Api.Requests.Reader.ReadAsync(bound.Token)).Watch)
            {
                seen++;
            }
        }
    }

    [Fact]
    public async Task ExpiredOnEveryWatchForAWhile_RelistsBackOff_ThenTheViewConverges()
    {
        await using var rig = await OutageRig.StartAsync(fallback: false);
        var listsBefore = rig.Api.ListCount;
        for (var i = 0; i < 6; i++)
        {
            rig.Api.FailNextWatch(LoadBalancing.Kubernetes.Tests.Support.Fault.Expire);
        }

        while (rig.Api.Requests.Reader.TryRead(out _))
        {
            // Only requests from here on count.
        }

        var watch = Stopwatch.StartNew();
        rig.Api.DropActiveWatches();
        var replacement = await rig.StartPodAsync("checkout");
        rig.Add("checkout", replacement);

        // Six watches answered 410, then one that works.
        await WatchRequestsAsync(rig, 7);
        var elapsed = watch.Elapsed;
        await rig.ProxySeesAsync("checkout", "the added pod once watches stop expiring", TimeSpan.FromSeconds(30));

        // Six 410s: six relists, spaced by growing delays (50 ms doubling to the 400 ms cap, jittered 50-100 %).
        // Confirmations may add a list of their own while the watch is failing; the relists are the six.
        var lists = rig.Api.ListCount - listsBefore;
        Assert.InRange(lists, 6, 9);
        var minimum = new[] { 50, 100, 200, 400, 400, 400 }.Sum() * 0.5;
        Assert.True(elapsed.TotalMilliseconds >= minimum, $"Promise broken: {lists} relists in {elapsed.TotalMilliseconds:0} ms are not rate-limited (at least {minimum:0} ms expected).");
        Assert.Matches("lb_kubernetes_watch_restarts_total\\{cause=\"expired\",namespace=\"prod\"\\} 6", (await rig.AdminAsync("metrics")).Body);
    }
}

[CollectionDefinition(nameof(OutageScenarios), DisableParallelization = true)]
public sealed class OutageRunsAlone;
