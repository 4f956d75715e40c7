using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.RegularExpressions;
using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancing.Proxy.Tests.Metrics;

public sealed class ProxyMetricsTests
{
    [Fact]
    public async Task Instruments_SeenByAnEmbeddingApplication_CountRequestsErrorsAndLatency_AsMetricsShows()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address, Loopback.DeadEndpoint("127.0.0.3"));
        options.Clusters["web"].OutlierDetection.Enabled = false;
        await using var proxy = await TestProxy.StartAsync(options);
        using var app = new AppMeterListener(proxy.Services.GetRequiredService<IMeterFactory>());
        var ct = TestContext.Current.CancellationToken;

        // Round-robin cursors are per thread: send until a request has met the dead endpoint.
        var sent = 0;
        while (sent < 50 && (sent < 4 || app.Observe("lb.proxy.upstream.errors", "kind", "connect") == 0))
        {
            (await proxy.Client.GetAsync("/", ct)).EnsureSuccessStatusCode();
            sent++;
        }

        var connectErrors = app.Observe("lb.proxy.upstream.errors", "kind", "connect");
        var latencies = app.Durations.ToArray();
        var text = await proxy.Admin.GetStringAsync("metrics", ct);

        Assert.Equal(sent, backend.Requests.Count);
        Assert.Equal(sent, app.Observe("lb.proxy.requests", "code", "2xx"));
        Assert.Equal(0, app.Observe("lb.proxy.requests", "code", "5xx"));
        Assert.InRange(connectErrors, 1, sent);
        Assert.Equal(connectErrors, app.Observe("lb.proxy.retries"));
        Assert.Equal(sent, latencies.Length);
        Assert.All(latencies, l => Assert.InRange(l, 1e-7, 30));
        Assert.Equal(2, app.Observe("lb.cluster.endpoints", "state", "total"));
        Assert.Equal(1, app.Observe("lb.proxy.ready"));

        // /metrics exports the same instruments under the names it always had.
        Assert.Contains($"lb_proxy_requests_total{{cluster=\"web\",code=\"2xx\"}} {sent}\n", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_upstream_errors_total{{cluster=\"web\",kind=\"connect\"}} {connectErrors}\n", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_retries_total{{cluster=\"web\"}} {connectErrors}\n", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_upstream_latency_seconds_count{{cluster=\"web\"}} {sent}\n", text, StringComparison.Ordinal);
        for (var i = 0; i < LatencyHistogram.BoundsSeconds.Length; i++)
        {
            var le = LatencyHistogram.BoundsSeconds[i];
            Assert.Contains($"lb_proxy_upstream_latency_seconds_bucket{{cluster=\"web\",le=\"{le.ToString(CultureInfo.InvariantCulture)}\"}} {latencies.Count(l => l <= le)}\n", text, StringComparison.Ordinal);
        }

        var sum = double.Parse(Regex.Match(text, "lb_proxy_upstream_latency_seconds_sum\\{cluster=\"web\"\\} (\\S+)\n").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.Equal(latencies.Sum(), sum, 1e-6);
    }

    [Fact]
    public async Task UpstreamDuration_WithOnlyTheAdminEndpoint_StaysDisabled()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        (await proxy.Client.GetAsync("/", ct)).EnsureSuccessStatusCode();
        var text = await proxy.Admin.GetStringAsync("metrics", ct);

        // No listener of the application: recording costs requests nothing, and /metrics still has the observation.
        Assert.False(proxy.Runtime.Metrics.UpstreamDuration.Enabled);
        Assert.Contains("lb_proxy_upstream_latency_seconds_count{cluster=\"web\"} 1\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MetricsEndpoint_TwoProxiesInOneProcess_EachExportsOnlyItsOwnInstruments()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var busy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        await using var idle = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        (await busy.Client.GetAsync("/", ct)).EnsureSuccessStatusCode();

        // Another LoadBalancing meter in each host (as Kubernetes discovery's is), from the host's own IMeterFactory.
        var busyAge = 7.0;
        var idleAge = 90.0;
        using var busyMeter = busy.Services.GetRequiredService<IMeterFactory>().Create("LoadBalancing.Discovery.Test");
        busyMeter.CreateObservableGauge("lb.test.view.age", () => busyAge, unit: "s");
        busyMeter.CreateCounter<long>("lb.test.confirmations").Add(3);
        using var idleMeter = idle.Services.GetRequiredService<IMeterFactory>().Create("LoadBalancing.Discovery.Test");
        idleMeter.CreateObservableGauge("lb.test.view.age", () => idleAge, unit: "s");
        idleMeter.CreateCounter<long>("lb.test.confirmations").Add(5);

        var busyText = await busy.Admin.GetStringAsync("metrics", ct);
        Assert.Contains("lb_proxy_requests_total{cluster=\"web\",code=\"2xx\"} 1\n", busyText, StringComparison.Ordinal);
        Assert.Equal(["lb_test_view_age_seconds 7"], Regex.Matches(busyText, "^lb_test_view_age_seconds.*$", RegexOptions.Multiline).Select(m => m.Value));
        Assert.Equal(["lb_test_confirmations_total 3"], Regex.Matches(busyText, "^lb_test_confirmations_total.*$", RegexOptions.Multiline).Select(m => m.Value));
        var idleText = await idle.Admin.GetStringAsync("metrics", ct);
        Assert.Contains("lb_proxy_requests_total{cluster=\"web\",code=\"2xx\"} 0\n", idleText, StringComparison.Ordinal);
        Assert.Single(Regex.Matches(idleText, "^lb_proxy_requests_total\\{cluster=\"web\",code=\"2xx\"\\}", RegexOptions.Multiline));
        Assert.Equal(["lb_test_view_age_seconds 90"], Regex.Matches(idleText, "^lb_test_view_age_seconds.*$", RegexOptions.Multiline).Select(m => m.Value));
        Assert.Equal(["lb_test_confirmations_total 5"], Regex.Matches(idleText, "^lb_test_confirmations_total.*$", RegexOptions.Multiline).Select(m => m.Value));
    }

    [Fact(Timeout = 30_000)]
    public async Task MetricsEndpoint_OnTheEventLoop_CollectsOffTheLoops()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The event-loop transport runs on Linux only.");
        var ct = TestContext.Current.CancellationToken;
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, "127.0.0.2:8080");
        options.Transport = ProxyTransport.EventLoop;
        await using var proxy = await TestProxy.StartAsync(options);
        var collectedOn = new System.Collections.Concurrent.ConcurrentQueue<string?>();
        using var meter = proxy.Services.GetRequiredService<IMeterFactory>().Create("LoadBalancing.Discovery.Test");
        meter.CreateObservableGauge("lb.test.collected", () =>
        {
            collectedOn.Enqueue(Thread.CurrentThread.Name);
            return 1;
        });

        // Collecting walks every cluster and endpoint: a loop's other connections must not wait for it. Eight requests,
        // each on a new connection, which the kernel spreads over the loops.
        for (var i = 0; i < 8; i++)
        {
            using var admin = new HttpClient { BaseAddress = new Uri($"http://{proxy.AdminEndPoint}/"), Timeout = TimeSpan.FromSeconds(20) };
            Assert.Contains("lb_test_collected 1\n", await admin.GetStringAsync("metrics", ct), StringComparison.Ordinal);
        }

        Assert.Equal(8, collectedOn.Count);
        Assert.DoesNotContain(collectedOn, name => name?.StartsWith("epoll loop", StringComparison.Ordinal) == true);
    }

    [Fact]
    public async Task MetricsEndpoint_KeepsEveryPrometheusNameTypeAndLabelSet()
    {
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, "127.0.0.2:8080"));

        var text = await proxy.Admin.GetStringAsync("metrics", TestContext.Current.CancellationToken);

        // Alerts and dashboards (docs/operations.md) are written against these; a change here breaks them.
        string[] families =
        [
            "lb_proxy_requests_total counter {cluster,code}",
            "lb_proxy_no_route_total counter {}",
            "lb_proxy_requests_rejected_total counter {reason}",
            "lb_proxy_upstream_errors_total counter {cluster,kind}",
            "lb_proxy_retries_total counter {cluster}",
            "lb_proxy_retries_over_budget_total counter {cluster}",
            "lb_proxy_route_regex_timeouts_total counter {}",
            "lb_proxy_fallback_requests_total counter {cluster}",
            "lb_proxy_session_affinity_moved_total counter {cluster}",
            "lb_proxy_requests_in_flight gauge {cluster}",
            "lb_proxy_upstream_connections gauge {cluster}",
            "lb_proxy_upstream_connections_opened_total counter {cluster}",
            "lb_proxy_upstream_connections_reused_total counter {cluster}",
            "lb_proxy_route_requests_total counter {code,route}",
            "lb_proxy_endpoint_requests_total counter {cluster,endpoint}",
            "lb_proxy_endpoint_responses_total counter {cluster,code,endpoint}",
            "lb_proxy_endpoint_errors_total counter {cluster,endpoint,kind}",
            "lb_proxy_upstream_latency_seconds histogram {cluster,le} {cluster}",
            "lb_cluster_endpoints gauge {cluster,state}",
            "lb_cluster_in_panic gauge {cluster}",
            "lb_proxy_health_check_probes_total counter {cluster,result}",
            "lb_cluster_health_check_unhealthy_endpoints gauge {cluster}",
            "lb_cluster_endpoint_ejections counter {cluster}",
            "lb_cluster_endpoint_set_version gauge {cluster}",
            "lb_cluster_discovery_staleness_seconds gauge {cluster}",
            "lb_cluster_discovery_stale gauge {cluster}",
            "lb_cluster_discovery_degraded gauge {cluster}",
            "lb_cluster_discovery_not_converging gauge {cluster}",
            "lb_cluster_last_change_timestamp_seconds gauge {cluster}",
            "lb_proxy_upstream_buffer_bytes gauge {state}",
            .. (TestTransport.IsEventLoop
                ? (string[])["lb_proxy_event_loop_busy_seconds_total counter {loop}", "lb_proxy_event_loop_stalls_total counter {loop}", "lb_proxy_event_loop_stall_seconds_total counter {loop}"]
                : []),
            "lb_proxy_ready gauge {}",
            "lb_config_generation gauge {}",
            "lb_config_reloads_total counter {outcome}",
            "lb_proxy_access_log_dropped_total counter {}",
            "process_start_time_seconds gauge {}",
            "process_uptime_seconds gauge {}",
            "process_resident_memory_bytes gauge {}",
            "process_cpu_seconds_total counter {}",
            "dotnet_gc_allocated_bytes_total counter {}",
            "dotnet_gc_heap_size_bytes gauge {}",
            "dotnet_gc_memory_limit_bytes gauge {}",
            "dotnet_gc_collections_total counter {generation}",
        ];
        Assert.Equal(families, Families(text));
        Assert.Contains("lb_proxy_requests_total{cluster=\"web\",code=\"none\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("lb_proxy_upstream_latency_seconds_bucket{cluster=\"web\",le=\"+Inf\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("lb_cluster_discovery_staleness_seconds{cluster=\"web\"} ", text, StringComparison.Ordinal);
        Assert.Contains("lb_proxy_upstream_buffer_bytes{state=\"in_use\"} 0\n", text, StringComparison.Ordinal);
    }

    /// <summary>Each family's name, type and the distinct label-name sets of its samples (histogram suffixes folded in).</summary>
    private static List<string> Families(string text)
    {
        var families = new List<string>();
        string? name = null;
        string? type = null;
        var labelSets = new List<string>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var typeLine = Regex.Match(line, "^# TYPE (\\S+) (\\S+)$");
            if (typeLine.Success)
            {
                Flush();
                (name, type) = (typeLine.Groups[1].Value, typeLine.Groups[2].Value);
            }
            else if (!line.StartsWith('#') && name is not null)
            {
                var labels = Regex.Match(line, "^[a-z_]+(\\{[^}]*\\})? ").Groups[1].Value;
                var set = "{" + string.Join(",", Regex.Matches(labels, "([a-z_]+)=\"").Select(m => m.Groups[1].Value)) + "}";
                if (!labelSets.Contains(set))
                {
                    labelSets.Add(set);
                }
            }
        }

        Flush();
        return families;

        void Flush()
        {
            if (name is not null)
            {
                families.Add($"{name} {type} {string.Join(" ", labelSets)}");
            }

            labelSets.Clear();
        }
    }
}
