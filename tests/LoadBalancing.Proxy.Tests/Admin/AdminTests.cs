using System.Net;
using System.Text.Json;
using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Proxy.Tests.Admin;

public sealed class AdminTests
{
    [Fact]
    public async Task Healthz_And_Readyz_AnswerOnTheAdminPortOnly()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        // On the event loop, its liveness check (the loops return to epoll_wait) is the one /healthz runs.
        Assert.Equal(TestTransport.IsEventLoop ? "ok\nevent-loops: Healthy — every event loop returns to epoll_wait\n" : "ok\n", await proxy.Admin.GetStringAsync("healthz", ct));
        using var ready = await proxy.Admin.GetAsync("readyz", ct);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.StartsWith("ready\ncluster web: 1/1 endpoints usable", await ready.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);

        // On the proxy port the same path is just a request for the backend.
        Assert.Equal("a", await proxy.Client.GetStringAsync("/healthz", ct));
        Assert.Equal("/healthz", Assert.Single(backend.Requests).Target);
    }

    [Fact]
    public async Task Readyz_StaleBecauseTheSourceCannotBeReached_StaysReadyAsDegraded_StaleForItsOwnReason_FailsAndRecovers()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var source = new EndpointSource("web", time);
        source.Publish([new BackendEndpoint("127.0.0.2", 8080)]);
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, "127.0.0.2:8080");
        await using var proxy = await TestProxy.StartAsync(options, time, p => p.UseEndpointSource("web", source, stalenessBound: TimeSpan.FromSeconds(30)));
        var ct = TestContext.Current.CancellationToken;

        Assert.Equal(HttpStatusCode.OK, (await proxy.Admin.GetAsync("readyz", ct)).StatusCode);

        // Discovery cannot reach its source of truth: every replica is in the same position, so stay ready.
        source.ReportConfirmationProblem(ConfirmationProblem.SourceUnreachable);
        time.Advance(TimeSpan.FromSeconds(31));
        using var degraded = await proxy.Admin.GetAsync("readyz", ct);
        Assert.True(degraded.StatusCode == HttpStatusCode.OK, "Promise broken: a control-plane outage turned the proxy unready.");
        Assert.Contains("cluster web: degraded, stale because its source cannot be reached; serving the last good list (last confirmed 31.0s ago, bound 30s)", await degraded.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        var metrics = await proxy.Admin.GetStringAsync("metrics", ct);
        Assert.Contains("lb_cluster_discovery_stale{cluster=\"web\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("lb_cluster_discovery_degraded{cluster=\"web\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("\"freshness\": \"stale-unreachable\"", await proxy.Admin.GetStringAsync("backends", ct), StringComparison.Ordinal);

        // The source answers but this replica's list does not converge: let traffic move to the others.
        source.ReportConfirmationProblem(ConfirmationProblem.NotConverging);
        using var stale = await proxy.Admin.GetAsync("readyz", ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, stale.StatusCode);
        Assert.Contains("cluster web: stale, not converging although its source answers (last confirmed 31.0s ago, bound 30s)", await stale.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        Assert.Contains("lb_cluster_discovery_not_converging{cluster=\"web\"} 1", await proxy.Admin.GetStringAsync("metrics", ct), StringComparison.Ordinal);

        source.Confirm();
        Assert.Equal(HttpStatusCode.OK, (await proxy.Admin.GetAsync("readyz", ct)).StatusCode);
        Assert.Contains("\"freshness\": \"current\"", await proxy.Admin.GetStringAsync("backends", ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Readyz_FailsWhenNoClusterHasAUsableEndpoint()
    {
        var source = new EndpointSource("web");
        source.Publish([new BackendEndpoint("127.0.0.2", 8080, conditions: EndpointConditions.None)]);
        await using var proxy = await TestProxy.StartAsync(
            TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, "127.0.0.2:8080"),
            configure: p => p.UseEndpointSource("web", source, stalenessBound: null));

        using var response = await proxy.Admin.GetAsync("readyz", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("no cluster has a usable endpoint", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_CountRequestsErrorsAndConnections_InPrometheusText()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address, Loopback.DeadEndpoint("127.0.0.3"));
        options.Clusters["web"].OutlierDetection.Enabled = false;
        options.Routes.Add(new ProxyRouteOptions { Hosts = { "only.example" }, Path = "/", Cluster = "web" });
        await using var proxy = await TestProxy.StartAsync(options);
        var ct = TestContext.Current.CancellationToken;

        // Round-robin cursors are per thread: send until a request has met the dead endpoint.
        var sent = 0;
        while (sent < 50 && (sent < 4 || proxy.Cluster().Metrics.Errors(UpstreamError.Connect) == 0))
        {
            (await proxy.Client.GetAsync("/", ct)).EnsureSuccessStatusCode();
            sent++;
        }

        var text = await proxy.Admin.GetStringAsync("metrics", ct);
        var connectErrors = proxy.Cluster().Metrics.Errors(UpstreamError.Connect);

        Assert.InRange(connectErrors, 1, sent);
        Assert.Contains("# TYPE lb_proxy_requests_total counter", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_requests_total{{cluster=\"web\",code=\"2xx\"}} {sent}\n", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_upstream_errors_total{{cluster=\"web\",kind=\"connect\"}} {connectErrors}\n", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_retries_total{{cluster=\"web\"}} {connectErrors}\n", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_upstream_latency_seconds_count{{cluster=\"web\"}} {sent}\n", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_upstream_latency_seconds_bucket{{cluster=\"web\",le=\"+Inf\"}} {sent}\n", text, StringComparison.Ordinal);
        Assert.Contains("lb_proxy_upstream_connections{cluster=\"web\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("lb_cluster_endpoints{cluster=\"web\",state=\"total\"} 2", text, StringComparison.Ordinal);
        Assert.Contains("lb_proxy_ready 1", text, StringComparison.Ordinal);

        // Every response has been read to the end, and an idle pooled connection holds no buffer. The client can have
        // the last response a moment before the proxy's receive loop hands its block back: read until it has, bounded.
        var buffers = text;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!buffers.Contains("lb_proxy_upstream_buffer_bytes{state=\"in_use\"} 0\n", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Yield();
            buffers = await proxy.Admin.GetStringAsync("metrics", ct);
        }

        Assert.Equal("lb_proxy_upstream_buffer_bytes{state=\"in_use\"} 0", buffers.Split('\n').Single(l => l.StartsWith("lb_proxy_upstream_buffer_bytes{state=\"in_use\"}", StringComparison.Ordinal)));
        Assert.Matches("lb_proxy_upstream_buffer_bytes\\{state=\"free\"\\} [1-9][0-9]*\n", buffers);
        Assert.Contains("dotnet_gc_allocated_bytes_total ", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\r", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Backends_ShowsEveryEndpointWithItsState()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        var dead = Loopback.DeadEndpoint("127.0.0.3");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address, dead);
        options.Clusters["web"].OutlierDetection.ConsecutiveFailures = 1;
        options.Clusters["web"].Endpoints[0].Zone = "zone-a";
        await using var proxy = await TestProxy.StartAsync(options);
        var ct = TestContext.Current.CancellationToken;

        // Round-robin cursors are per thread: send until a request has met the dead endpoint (and ejected it).
        for (var i = 0; i < 50 && (i < 6 || proxy.Cluster().Balancer.Status.EjectedEndpoints == 0); i++)
        {
            (await proxy.Client.GetAsync("/", ct)).EnsureSuccessStatusCode();
        }

        using var json = JsonDocument.Parse(await proxy.Admin.GetStringAsync("backends", ct));
        var cluster = json.RootElement.GetProperty("clusters")[0];
        var endpoints = cluster.GetProperty("endpoints").EnumerateArray().ToDictionary(e => $"{e.GetProperty("address").GetString()}:{e.GetProperty("port").GetInt32()}");

        Assert.Equal("web", cluster.GetProperty("name").GetString());
        Assert.Equal("RoundRobin", cluster.GetProperty("algorithm").GetString());
        Assert.Equal("static", cluster.GetProperty("discovery").GetString());
        Assert.Equal(1, cluster.GetProperty("ejectedEndpoints").GetInt32());
        var live = endpoints[backend.Address];
        Assert.Equal("zone-a", live.GetProperty("zone").GetString());
        Assert.Equal(["ready", "serving"], live.GetProperty("conditions").EnumerateArray().Select(c => c.GetString()));
        Assert.True(live.GetProperty("ewmaMilliseconds").GetDouble() > 0);
        Assert.Equal(1, live.GetProperty("idleConnections").GetInt32());
        var gone = endpoints[dead];
        Assert.True(gone.GetProperty("ejected").GetBoolean());
        Assert.Equal(JsonValueKind.String, gone.GetProperty("ejectedUntil").ValueKind);
        Assert.Equal("upstream connect failed", gone.GetProperty("lastError").GetProperty("message").GetString());
    }

    [Fact]
    public async Task UnknownAdminPath_Is404_WithTheListOfPaths()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));

        using var response = await proxy.Admin.GetAsync("nope", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("/backends", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }
}
