using System.Diagnostics;
using System.Globalization;
using System.Text;
using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Upstream;

namespace LoadBalancing.Proxy.Admin;

/// <summary>
/// Writes the proxy's counters in the Prometheus text format (version 0.0.4). The counters live in plain
/// fields updated with interlocked operations, so exposition costs the request path nothing.
/// </summary>
internal static class PrometheusWriter
{
    public static string Write(ProxyRuntime runtime)
    {
        var text = new StringBuilder(4096);
        var now = runtime.Time.GetUtcNow();

        Header(text, "lb_proxy_requests_total", "counter", "Requests answered, by cluster and status class (code=\"none\": no response, the client left).");
        foreach (var cluster in runtime.Clusters)
        {
            for (var statusClass = 0; statusClass <= 5; statusClass++)
            {
                var code = statusClass == 0 ? "none" : $"{statusClass}xx";
                Sample(text, "lb_proxy_requests_total", cluster.Name, $"code=\"{code}\"", cluster.Metrics.Responses(statusClass));
            }
        }

        Header(text, "lb_proxy_no_route_total", "counter", "Requests that matched no route (404).");
        Line(text, "lb_proxy_no_route_total", "", runtime.NoRouteRequests);

        Header(text, "lb_proxy_requests_rejected_total", "counter", "Requests refused with 400 for ambiguous framing before routing, by reason.");
        foreach (var reason in Enum.GetValues<RequestRejection>())
        {
            Line(text, "lb_proxy_requests_rejected_total", $"{{reason=\"{RequestRejections.ReasonNames[(int)reason]}\"}}", runtime.Rejections.Count(reason));
        }

        Header(text, "lb_proxy_upstream_errors_total", "counter", "Failed upstream attempts and proxy-generated errors, by kind.");
        foreach (var cluster in runtime.Clusters)
        {
            foreach (var error in Enum.GetValues<UpstreamError>())
            {
                Sample(text, "lb_proxy_upstream_errors_total", cluster.Name, $"kind=\"{ClusterMetrics.ErrorNames[(int)error]}\"", cluster.Metrics.Errors(error));
            }
        }

        Counter(text, runtime, "lb_proxy_retries_total", "Attempts on another endpoint after a failure.", c => c.Metrics.Retries);
        Counter(text, runtime, "lb_proxy_fallback_requests_total", "Attempts sent to the last-resort fallback address.", c => c.Metrics.FallbackRequests);
        Gauge(text, runtime, "lb_proxy_requests_in_flight", "Requests being forwarded now.", c => c.Metrics.InFlight);
        Gauge(text, runtime, "lb_proxy_upstream_connections", "Open upstream connections (busy and idle).", c => c.Metrics.ConnectionsOpen);
        Counter(text, runtime, "lb_proxy_upstream_connections_opened_total", "Upstream connections opened.", c => c.Metrics.ConnectionsOpened);
        Counter(text, runtime, "lb_proxy_upstream_connections_reused_total", "Requests sent on a pooled keep-alive connection.", c => c.Metrics.ConnectionsReused);

        Header(text, "lb_proxy_upstream_latency_seconds", "histogram", "Time from picking an endpoint to its response headers.");
        foreach (var cluster in runtime.Clusters)
        {
            var (cumulative, sum) = cluster.Metrics.UpstreamLatency.Snapshot();
            for (var i = 0; i < cumulative.Length; i++)
            {
                var le = i < LatencyHistogram.BoundsSeconds.Length ? LatencyHistogram.BoundsSeconds[i].ToString(CultureInfo.InvariantCulture) : "+Inf";
                Sample(text, "lb_proxy_upstream_latency_seconds_bucket", cluster.Name, $"le=\"{le}\"", cumulative[i]);
            }

            Sample(text, "lb_proxy_upstream_latency_seconds_sum", cluster.Name, "", sum);
            Sample(text, "lb_proxy_upstream_latency_seconds_count", cluster.Name, "", cumulative[^1]);
        }

        Header(text, "lb_cluster_endpoints", "gauge", "Endpoints by state: total in the list, usable by the balancer, ejected by outlier detection.");
        foreach (var cluster in runtime.Clusters)
        {
            var status = cluster.Balancer.Status;
            Sample(text, "lb_cluster_endpoints", cluster.Name, "state=\"total\"", status.TotalEndpoints);
            Sample(text, "lb_cluster_endpoints", cluster.Name, "state=\"usable\"", status.UsableEndpoints);
            Sample(text, "lb_cluster_endpoints", cluster.Name, "state=\"ejected\"", status.EjectedEndpoints);
        }

        Gauge(text, runtime, "lb_cluster_in_panic", "1 while too few endpoints are healthy and ejections are ignored.", c => c.Balancer.Status.InPanic ? 1 : 0);
        Counter(text, runtime, "lb_cluster_endpoint_ejections", "Ejections of the current endpoints since they appeared.", c => c.Source.Current.States.Sum(s => (long)s.EjectionCount));
        Gauge(text, runtime, "lb_cluster_endpoint_set_version", "Version of the endpoint list in use.", c => c.Source.Current.Version);
        Gauge(text, runtime, "lb_cluster_discovery_staleness_seconds", "Seconds since discovery last confirmed the endpoint list.", c => c.Source.Staleness()?.TotalSeconds ?? double.NaN);
        Gauge(text, runtime, "lb_cluster_discovery_stale", "1 while the endpoint list is older than its staleness bound.", c => c.IsStale ? 1 : 0);
        Gauge(text, runtime, "lb_cluster_discovery_degraded", "1 while the endpoint list is stale because discovery cannot reach its source of truth (the proxy stays ready).", c => c.Freshness == "stale-unreachable" ? 1 : 0);
        Gauge(text, runtime, "lb_cluster_discovery_not_converging", "1 while the endpoint list is stale although its source answers (the proxy is not ready).", c => c.Freshness == "stale-not-converging" ? 1 : 0);
        Gauge(text, runtime, "lb_cluster_last_change_timestamp_seconds", "When the endpoint list last changed (Unix time).", c => c.Source.LastChanged?.ToUnixTimeMilliseconds() / 1000.0 ?? double.NaN);

        Header(text, "lb_proxy_upstream_buffer_bytes", "gauge", "Upstream connection buffers: in use (bytes received or to send, still buffered) and free (kept for reuse, bounded).");
        Line(text, "lb_proxy_upstream_buffer_bytes", "{state=\"in_use\"}", (double)runtime.Blocks.InUse * PinnedBlockPool.BlockSize);
        Line(text, "lb_proxy_upstream_buffer_bytes", "{state=\"free\"}", (double)runtime.Blocks.Retained * PinnedBlockPool.BlockSize);
        Header(text, "lb_proxy_ready", "gauge", "1 when /readyz answers 200.");
        Line(text, "lb_proxy_ready", "", Readiness.Check(runtime).Ready ? 1 : 0);
        Header(text, "process_start_time_seconds", "gauge", "When the proxy started (Unix time).");
        Line(text, "process_start_time_seconds", "", runtime.Started.ToUnixTimeMilliseconds() / 1000.0);
        Header(text, "process_uptime_seconds", "gauge", "Seconds since the proxy started.");
        Line(text, "process_uptime_seconds", "", (now - runtime.Started).TotalSeconds);
        WriteRuntime(text);
        runtime.Meters.Write(text);
        return text.ToString();
    }

    private static void WriteRuntime(StringBuilder text)
    {
        using var process = Process.GetCurrentProcess();
        Header(text, "process_resident_memory_bytes", "gauge", "Resident set size.");
        Line(text, "process_resident_memory_bytes", "", process.WorkingSet64);
        Header(text, "process_cpu_seconds_total", "counter", "CPU time used by the process.");
        Line(text, "process_cpu_seconds_total", "", process.TotalProcessorTime.TotalSeconds);
        Header(text, "dotnet_gc_allocated_bytes_total", "counter", "Bytes allocated on the managed heap since start.");
        Line(text, "dotnet_gc_allocated_bytes_total", "", GC.GetTotalAllocatedBytes(precise: false));
        var memory = GC.GetGCMemoryInfo();
        Header(text, "dotnet_gc_heap_size_bytes", "gauge", "Managed heap size after the last collection.");
        Line(text, "dotnet_gc_heap_size_bytes", "", memory.HeapSizeBytes);
        Header(text, "dotnet_gc_memory_limit_bytes", "gauge", "Memory the GC may use (a container limit or DOTNET_GCHeapHardLimit).");
        Line(text, "dotnet_gc_memory_limit_bytes", "", memory.TotalAvailableMemoryBytes);
        Header(text, "dotnet_gc_collections_total", "counter", "Garbage collections by generation.");
        for (var gen = 0; gen <= GC.MaxGeneration; gen++)
        {
            Line(text, "dotnet_gc_collections_total", $"{{generation=\"{gen}\"}}", GC.CollectionCount(gen));
        }
    }

    private static void Counter(StringBuilder text, ProxyRuntime runtime, string name, string help, Func<Clusters.ProxyCluster, double> value) =>
        PerCluster(text, runtime, name, "counter", help, value);

    private static void Gauge(StringBuilder text, ProxyRuntime runtime, string name, string help, Func<Clusters.ProxyCluster, double> value) =>
        PerCluster(text, runtime, name, "gauge", help, value);

    private static void PerCluster(StringBuilder text, ProxyRuntime runtime, string name, string type, string help, Func<Clusters.ProxyCluster, double> value)
    {
        Header(text, name, type, help);
        foreach (var cluster in runtime.Clusters)
        {
            Sample(text, name, cluster.Name, "", value(cluster));
        }
    }

    private static void Header(StringBuilder text, string name, string type, string help) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static void Sample(StringBuilder text, string name, string cluster, string labels, double value) =>
        Line(text, name, labels.Length == 0 ? $"{{cluster=\"{Escape(cluster)}\"}}" : $"{{cluster=\"{Escape(cluster)}\",{labels}}}", value);

    private static void Line(StringBuilder text, string name, string labels, double value) =>
        text.Append(name).Append(labels).Append(' ').Append(Format(value)).Append('\n');

    private static string Format(double value) =>
        double.IsNaN(value) ? "NaN" : double.IsPositiveInfinity(value) ? "+Inf" : value.ToString("R", CultureInfo.InvariantCulture);

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
}
