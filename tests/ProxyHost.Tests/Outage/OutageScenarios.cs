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
    public async Task RollingDeploy_WhileTheWatchHangsSilently_IsNoticedAndSurvived()
    {
        await using var rig = await OutageRig.StartAsync(fallback: true);
        await using var load = new LoadLoop(rig.Client);
        await load.WhileRequestsFlowAsync();

        // The watch goes silent: connected, no bytes, no bookmarks — three times in a row.
        for (var i = 0; i < 3; i++)
        {
            rig.Api.FailNextWatch(LoadBalancing.Kubernetes.Tests.Support.Fault.Hang);
        }

        rig.Api.DropActiveWatches();
        var readiness = new List<HttpStatusCode>();

        // The whole deploy happens while the proxy hears nothing.
        foreach (var service in OutageRig.Services)
        {
            foreach (var old in rig.Pods(service).ToArray())
            {
                rig.Add(service, await rig.StartPodAsync(service));
                rig.Terminate(service, old);
                await rig.RemoveAsync(service, old);
            }
        }

        // Staleness must show while it lasts: readiness fails at some point before the view converges.
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(20) && !readiness.Contains(HttpStatusCode.ServiceUnavailable))
        {
            readiness.Add((await rig.AdminAsync("readyz")).Status);
            await load.WhileRequestsFlowAsync(5);
        }

        Assert.True(readiness.Contains(HttpStatusCode.ServiceUnavailable), $"Promise broken: the view was stale for {watch.Elapsed.TotalSeconds:0} s without readiness flipping.");
        foreach (var service in OutageRig.Services)
        {
            await rig.ProxySeesAsync(service, "the deployed pods after the watchdog restarted the watch", TimeSpan.FromSeconds(30));
        }

        Assert.Equal(HttpStatusCode.OK, (await rig.AdminAsync("readyz")).Status);
        var metrics = (await rig.AdminAsync("metrics")).Body;
        Assert.Matches("lb_kubernetes_watch_restarts_total\\{cause=\"idle\",namespace=\"prod\"\\} [1-9]", metrics);
        await load.WhileRequestsFlowAsync(20);
        await load.StopAsync();
        Assert.True(load.Failures.IsEmpty, $"Promise broken: with a fallback configured, requests failed while the watch hung ({load.Describe()}).");
    }

    [Fact]
    public async Task AllPodsReplaced_WhileTheApiServerIsUnreachable_TrafficFlowsAndTheAdminViewSaysWhy()
    {
        await using var rig = await OutageRig.StartAsync(fallback: true);
        await using var load = new LoadLoop(rig.Client);
        await load.WhileRequestsFlowAsync();

        // The API server becomes unreachable, then every pod is replaced at once.
        for (var i = 0; i < 10_000; i++)
        {
            rig.Api.FailNextWatch(LoadBalancing.Kubernetes.Tests.Support.Fault.ServerError);
        }

        rig.Api.FailNextList(LoadBalancing.Kubernetes.Tests.Support.Fault.ServerError, times: 10_000);
        rig.Api.DropActiveWatches();
        foreach (var service in OutageRig.Services)
        {
            foreach (var old in rig.Pods(service).ToArray())
            {
                rig.Add(service, await rig.StartPodAsync(service));
                await rig.RemoveAsync(service, old);
            }
        }

        // Requests to the dead IPs are retried and the fallback carries the traffic; once the view is older
        // than its bound, readiness fails for both clusters.
        await load.WhileRequestsFlowAsync(100);
        var watch = Stopwatch.StartNew();
        (HttpStatusCode Status, string Body) ready;
        do
        {
            ready = await rig.AdminAsync("readyz");
            await load.WhileRequestsFlowAsync(10);
        }
        while (!(ready.Body.Contains("cluster checkout: stale", StringComparison.Ordinal) && ready.Body.Contains("cluster catalog: stale", StringComparison.Ordinal))
            && watch.Elapsed < TimeSpan.FromSeconds(20));

        Assert.True(ready.Status == HttpStatusCode.ServiceUnavailable, $"Promise broken: the view was stale for {watch.Elapsed.TotalSeconds:0} s without readiness flipping.");
        Assert.Contains("cluster checkout: stale", ready.Body, StringComparison.Ordinal);

        using var backends = JsonDocument.Parse((await rig.AdminAsync("backends")).Body);
        var checkout = backends.RootElement.GetProperty("clusters").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "checkout");
        Assert.True(checkout.GetProperty("stale").GetBoolean(), "Promise broken: /backends does not say the view is stale.");
        Assert.True(checkout.GetProperty("stalenessSeconds").GetDouble() >= 2, "Promise broken: /backends does not say how stale.");
        Assert.True(checkout.GetProperty("ejectedEndpoints").GetInt32() >= 1, "Promise broken: dead endpoints are not ejected.");
        Assert.True(checkout.GetProperty("fallbackRequests").GetInt64() > 0, "Promise broken: /backends does not show the fallback in use.");

        var metrics = (await rig.AdminAsync("metrics")).Body;
        Assert.Contains("lb_cluster_discovery_stale{cluster=\"checkout\"} 1", metrics, StringComparison.Ordinal);
        Assert.Matches("lb_proxy_fallback_requests_total\\{cluster=\"checkout\"\\} [1-9]", metrics);
        Assert.Matches("lb_cluster_endpoints\\{cluster=\"checkout\",state=\"ejected\"\\} [1-9]", metrics);
        Assert.Matches("lb_kubernetes_view_age_seconds\\{namespace=\"prod\"\\} [2-9]", metrics);

        await load.StopAsync();
        Assert.True(load.Failures.IsEmpty, $"Promise broken: with a fallback configured, requests failed while the API server was down ({load.Describe()}).");
        Assert.True(load.AnsweredBy.GetValueOrDefault("cluster-ip") > 0, "Promise broken: no request went through the fallback.");
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
        var lists = rig.Api.ListCount - listsBefore;
        Assert.Equal(6, lists);
        var minimum = new[] { 50, 100, 200, 400, 400, 400 }.Sum() * 0.5;
        Assert.True(elapsed.TotalMilliseconds >= minimum, $"Promise broken: {lists} relists in {elapsed.TotalMilliseconds:0} ms are not rate-limited (at least {minimum:0} ms expected).");
        Assert.Matches("lb_kubernetes_watch_restarts_total\\{cause=\"expired\",namespace=\"prod\"\\} 6", (await rig.AdminAsync("metrics")).Body);
    }
}

[CollectionDefinition(nameof(OutageScenarios), DisableParallelization = true)]
public sealed class OutageRunsAlone;
