using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using LoadBalancing.Proxy.Admin;
using LoadBalancing.Proxy.Upstream;

namespace LoadBalancing.Proxy.Metrics;

/// <summary>
/// The <c>LoadBalancing.Proxy</c> meter. Every counter and gauge is an observable instrument that reads the interlocked
/// fields the request path already updates, so an instrument costs a request nothing and is only evaluated when a
/// listener collects. The upstream duration histogram is the one recorded instrument, and only while a listener has
/// enabled it; /metrics takes its buckets from <see cref="LatencyHistogram"/>, fed at the same call site, so the admin
/// endpoint never turns the histogram on.
/// </summary>
internal sealed class ProxyMetrics
{
    public const string MeterName = "LoadBalancing.Proxy";

    private readonly List<PrometheusFamily> _families = [];

    public ProxyMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        Meter = meterFactory.Create(MeterName);
        UpstreamDuration = Meter.CreateHistogram(
            "lb.proxy.upstream.duration",
            unit: "s",
            description: "Time from picking an endpoint to its response headers.",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyHistogram.BoundsSeconds });
    }

    /// <summary>Owned by the meter factory, which disposes it with the service provider.</summary>
    public Meter Meter { get; }

    /// <summary>Recorded by <see cref="LatencyHistogram.Record"/> only while <see cref="Instrument.Enabled"/>.</summary>
    public Histogram<double> UpstreamDuration { get; }

    /// <summary>The instruments in /metrics order, each with the Prometheus name and type it has always been exported under.</summary>
    public IReadOnlyList<PrometheusFamily> Families => _families;

    /// <summary>Creates the observable instruments; each reads the configuration in service when collected.</summary>
    public void Observe(ProxyRuntime runtime)
    {
        Observed(Meter.CreateObservableCounter("lb.proxy.requests", () => Requests(runtime.Clusters), "{request}",
            "Requests answered, by cluster and code: the status class, 5xx by exact code for 500, 502, 503 and 504 (code=\"5xx\": any other 5xx; code=\"none\": no response, the client left)."), "lb_proxy_requests_total", "counter");
        Observed(Meter.CreateObservableCounter("lb.proxy.no_route", () => runtime.NoRouteRequests, "{request}",
            "Requests that matched no route (404)."), "lb_proxy_no_route_total", "counter");
        Observed(Meter.CreateObservableCounter("lb.proxy.requests.rejected", () => Rejections(runtime.Rejections), "{request}",
            "Requests refused with 400 before routing (ambiguous framing, a field Kestrel would take but a proxy must not, a fragment, an empty Host), by reason."), "lb_proxy_requests_rejected_total", "counter");
        Observed(Meter.CreateObservableCounter("lb.proxy.upstream.errors", () => Errors(runtime.Clusters), "{error}",
            "Failed upstream attempts and proxy-generated errors, by kind."), "lb_proxy_upstream_errors_total", "counter");
        Observed(Meter.CreateObservableCounter("lb.proxy.retries", () => PerCluster(runtime.Clusters, static c => c.Metrics.Retries), "{attempt}",
            "Attempts on another endpoint after a failure."), "lb_proxy_retries_total", "counter");
        Observed(Meter.CreateObservableCounter("lb.proxy.retries.over_budget", () => PerCluster(runtime.Clusters, static c => c.Metrics.RetriesOverBudget), "{attempt}",
            "Retries not made because the cluster's retry budget was spent."), "lb_proxy_retries_over_budget_total", "counter");
        Observed(Meter.CreateObservableCounter("lb.proxy.route.regex_timeouts", () => Routing.RouteConditions.RegexTimeouts, "{evaluation}",
            "Route regular expressions that ran out of time on a request (counted as not matching)."), "lb_proxy_route_regex_timeouts_total", "counter");
        Observed(Meter.CreateObservableCounter("lb.proxy.fallback.requests", () => PerCluster(runtime.Clusters, static c => c.Metrics.FallbackRequests), "{attempt}",
            "Attempts sent to the last-resort fallback address."), "lb_proxy_fallback_requests_total", "counter");
        Observed(Meter.CreateObservableCounter("lb.proxy.session_affinity.moved", () => PerCluster(runtime.Clusters, static c => c.Metrics.SessionsMoved), "{request}",
            "Requests whose affinity cookie named an endpoint that was not usable, balanced elsewhere."), "lb_proxy_session_affinity_moved_total", "counter");
        Observed(Meter.CreateObservableUpDownCounter("lb.proxy.requests.in_flight", () => PerCluster(runtime.Clusters, static c => c.Metrics.InFlight), "{request}",
            "Requests being forwarded now."), "lb_proxy_requests_in_flight", "gauge");
        Observed(Meter.CreateObservableUpDownCounter("lb.proxy.upstream.connections", () => PerCluster(runtime.Clusters, static c => c.Metrics.ConnectionsOpen), "{connection}",
            "Open upstream connections (busy and idle)."), "lb_proxy_upstream_connections", "gauge");
        Observed(Meter.CreateObservableCounter("lb.proxy.upstream.connections.opened", () => PerCluster(runtime.Clusters, static c => c.Metrics.ConnectionsOpened), "{connection}",
            "Upstream connections opened."), "lb_proxy_upstream_connections_opened_total", "counter");
        Observed(Meter.CreateObservableCounter("lb.proxy.upstream.connections.reused", () => PerCluster(runtime.Clusters, static c => c.Metrics.ConnectionsReused), "{request}",
            "Requests sent on a pooled keep-alive connection."), "lb_proxy_upstream_connections_reused_total", "counter");
        Observed(Meter.CreateObservableCounter("lb.proxy.route.requests", () => RouteRequests(runtime.Config), "{request}",
            "Requests answered by each route (forwarded, redirected or answered directly), by route and code: the status class, 5xx by exact code for 500, 502, 503 and 504 (code=\"5xx\": any other 5xx; code=\"none\": no response, the client left)."), "lb_proxy_route_requests_total", "counter");
        Observed(Meter.CreateObservableCounter("lb.proxy.endpoint.requests", () => EndpointRequests(runtime.Clusters), "{request}",
            "Attempts sent to each endpoint, by cluster and endpoint (clusters whose EndpointMetrics allows it)."), "lb_proxy_endpoint_requests_total", "counter");
        Observed(Meter.CreateObservableCounter("lb.proxy.endpoint.responses", () => EndpointResponses(runtime.Clusters), "{response}",
            "Responses from each endpoint by code (the status class, 5xx by exact code for 500, 502, 503 and 504, code=\"5xx\": any other 5xx), by cluster and endpoint (clusters whose EndpointMetrics allows it)."), "lb_proxy_endpoint_responses_total", "counter");
        Observed(Meter.CreateObservableCounter("lb.proxy.endpoint.errors", () => EndpointErrors(runtime.Clusters), "{error}",
            "Failed attempts on each endpoint by kind, by cluster and endpoint (clusters whose EndpointMetrics allows it)."), "lb_proxy_endpoint_errors_total", "counter");
        _families.Add(new PrometheusFamily(UpstreamDuration, "lb_proxy_upstream_latency_seconds", "histogram", text => WriteLatency(text, runtime.Clusters)));

        Observed(Meter.CreateObservableUpDownCounter("lb.cluster.endpoints", () => Endpoints(runtime.Clusters), "{endpoint}",
            "Endpoints by state: total in the list, usable by the balancer, ejected by outlier detection."), "lb_cluster_endpoints", "gauge");
        Observed(Meter.CreateObservableGauge("lb.cluster.in_panic", () => PerCluster(runtime.Clusters, static c => c.Balancer.Status.InPanic ? 1 : 0), null,
            "1 while too few endpoints are healthy and ejections are ignored."), "lb_cluster_in_panic", "gauge");

        Observed(Meter.CreateObservableCounter("lb.proxy.health_check.probes", () => HealthProbes(runtime.Clusters), "{probe}",
            "Active health check probes by cluster and result (success, failure); a probe shared by clusters counts in each."), "lb_proxy_health_check_probes_total", "counter");
        Observed(Meter.CreateObservableUpDownCounter("lb.cluster.health_check.unhealthy_endpoints", () => PerCluster(runtime.Clusters, static c => c.Balancer.Status.UnhealthyEndpoints), "{endpoint}",
            "Eligible endpoints the active health check holds out of service (panic mode may still use them)."), "lb_cluster_health_check_unhealthy_endpoints", "gauge");

        // A sum over the endpoints in the list now, so it drops when endpoints leave: an up-down counter to OpenTelemetry,
        // still typed counter on /metrics as it always was. TotalEjections, not the backoff count outlier detection
        // forgives after good behaviour: a forgiven count would make the sum drop while ejections go on. The cluster's own
        // ejections: another cluster over the same source keeps its own.
        Observed(Meter.CreateObservableUpDownCounter("lb.cluster.endpoint.ejections", () => PerCluster(runtime.Clusters, static c => c.Source.Current.States.Sum(s => (long)(c.Balancer.GetOutlierState(s)?.TotalEjections ?? 0))), "{ejection}",
            "Ejections of the current endpoints since they appeared."), "lb_cluster_endpoint_ejections", "counter");
        Observed(Meter.CreateObservableGauge("lb.cluster.endpoint_set.version", () => PerCluster(runtime.Clusters, static c => c.Source.Current.Version), null,
            "Version of the endpoint list in use."), "lb_cluster_endpoint_set_version", "gauge");
        Observed(Meter.CreateObservableGauge("lb.cluster.discovery.staleness", () => PerCluster(runtime.Clusters, static c => c.Source.Staleness()?.TotalSeconds ?? double.NaN), "s",
            "Seconds since discovery last confirmed the endpoint list."), "lb_cluster_discovery_staleness_seconds", "gauge");
        Observed(Meter.CreateObservableGauge("lb.cluster.discovery.stale", () => PerCluster(runtime.Clusters, static c => c.IsStale ? 1 : 0), null,
            "1 while the endpoint list is older than its staleness bound."), "lb_cluster_discovery_stale", "gauge");
        Observed(Meter.CreateObservableGauge("lb.cluster.discovery.degraded", () => PerCluster(runtime.Clusters, static c => c.Freshness == "stale-unreachable" ? 1 : 0), null,
            "1 while the endpoint list is stale because discovery cannot reach its source of truth (the proxy stays ready)."), "lb_cluster_discovery_degraded", "gauge");
        Observed(Meter.CreateObservableGauge("lb.cluster.discovery.not_converging", () => PerCluster(runtime.Clusters, static c => c.Freshness == "stale-not-converging" ? 1 : 0), null,
            "1 while the endpoint list is stale although its source answers (the proxy is not ready)."), "lb_cluster_discovery_not_converging", "gauge");
        Observed(Meter.CreateObservableGauge("lb.cluster.last_change.timestamp", () => PerCluster(runtime.Clusters, static c => c.Source.LastChanged?.ToUnixTimeMilliseconds() / 1000.0 ?? double.NaN), "s",
            "When the endpoint list last changed (Unix time)."), "lb_cluster_last_change_timestamp_seconds", "gauge");

        Observed(Meter.CreateObservableUpDownCounter("lb.proxy.upstream.buffers", () => Buffers(runtime.Blocks), "By",
            "Upstream connection buffers: in use (bytes received or to send, still buffered) and free (kept for reuse, bounded)."), "lb_proxy_upstream_buffer_bytes", "gauge");
        // The loops are the process's, shared by every host in it on this transport; each such proxy exports them.
        if (runtime.Options.Transport == ProxyTransport.EventLoop)
        {
            Observed(Meter.CreateObservableCounter("lb.proxy.event_loop.busy.time", () => PerLoop(static (_, loop) => loop.BusyTime.TotalSeconds), "s",
                "Time each event loop spent running rather than waiting in epoll_wait: its rate is the loop's utilisation (1 = a saturated core)."), "lb_proxy_event_loop_busy_seconds_total", "counter");
            Observed(Meter.CreateObservableCounter("lb.proxy.event_loop.stalls", () => PerLoop(static (watchdog, loop) => watchdog.Stalls(loop.Index)), "{stall}",
                "Batches of an event loop that ran 200 ms or longer without returning to epoll_wait (every connection on the loop waited), counted from the moment they pass 200 ms."), "lb_proxy_event_loop_stalls_total", "counter");
            Observed(Meter.CreateObservableCounter("lb.proxy.event_loop.stall.time", () => PerLoop(static (watchdog, loop) => watchdog.StalledTime(loop.Index).TotalSeconds), "s",
                "Time event loops spent in stalls, the one running now included."), "lb_proxy_event_loop_stall_seconds_total", "counter");
        }

        Observed(Meter.CreateObservableGauge("lb.proxy.ready", () => Readiness.Check(runtime).Ready ? 1 : 0, null,
            "1 when /readyz answers 200."), "lb_proxy_ready", "gauge");
        Observed(Meter.CreateObservableGauge("lb.config.generation", () => runtime.Config.Generation, null,
            "Generation of the configuration in service: 1 at start, one more per reload that changed something."), "lb_config_generation", "gauge");
        Observed(Meter.CreateObservableCounter("lb.config.reloads", () => Reloads(runtime), "{reload}",
            "Configuration reloads by outcome: applied, rejected (the last good configuration stays), unchanged."), "lb_config_reloads_total", "counter");
    }

    /// <summary>
    /// The access log's drop counter. Registered by the access log's owner (it is created after the runtime), and
    /// always, so the series exists (at 0) whether or not the log is on.
    /// </summary>
    public void ObserveAccessLog(Func<long> dropped) =>
        Observed(Meter.CreateObservableCounter("lb.proxy.access_log.dropped", dropped, "{line}",
            "Access log lines dropped because the writer was behind."), "lb_proxy_access_log_dropped_total", "counter");

    private void Observed(Instrument instrument, string name, string type) => _families.Add(new PrometheusFamily(instrument, name, type, null));

    private static KeyValuePair<string, object?> Cluster(Clusters.ProxyCluster cluster) => new("cluster", cluster.Name);

    private static List<Measurement<T>> PerLoop<T>(Func<Transport.EventLoop.EpollLoopWatchdog, Transport.EventLoop.EpollLoop, T> value)
        where T : struct
    {
        if (Transport.EventLoop.EpollLoopGroup.Watchdog is not { } watchdog)
        {
            return [];
        }

        var measurements = new List<Measurement<T>>(watchdog.Loops.Length);
        foreach (var loop in watchdog.Loops)
        {
            measurements.Add(new Measurement<T>(value(watchdog, loop), new KeyValuePair<string, object?>("loop", loop.Label)));
        }

        return measurements;
    }

    private static List<Measurement<T>> PerCluster<T>(IReadOnlyList<Clusters.ProxyCluster> clusters, Func<Clusters.ProxyCluster, T> value)
        where T : struct
    {
        var measurements = new List<Measurement<T>>(clusters.Count);
        foreach (var cluster in clusters)
        {
            measurements.Add(new Measurement<T>(value(cluster), Cluster(cluster)));
        }

        return measurements;
    }

    private static List<Measurement<long>> Requests(IReadOnlyList<Clusters.ProxyCluster> clusters)
    {
        var measurements = new List<Measurement<long>>(clusters.Count * StatusCodeLabels.Count);
        foreach (var cluster in clusters)
        {
            for (var slot = 0; slot < StatusCodeLabels.Count; slot++)
            {
                measurements.Add(new Measurement<long>(cluster.Metrics.ResponsesIn(slot), Cluster(cluster), new("code", StatusCodeLabels.Names[slot])));
            }
        }

        return measurements;
    }

    private static List<Measurement<long>> HealthProbes(IReadOnlyList<Clusters.ProxyCluster> clusters)
    {
        var measurements = new List<Measurement<long>>(clusters.Count * 2);
        foreach (var cluster in clusters)
        {
            var checks = cluster.HealthChecks;
            measurements.Add(new Measurement<long>(checks?.Passed ?? 0, Cluster(cluster), new("result", "success")));
            measurements.Add(new Measurement<long>(checks?.Failed ?? 0, Cluster(cluster), new("result", "failure")));
        }

        return measurements;
    }

    private static List<Measurement<long>> Errors(IReadOnlyList<Clusters.ProxyCluster> clusters)
    {
        var errors = Enum.GetValues<UpstreamError>();
        var measurements = new List<Measurement<long>>(clusters.Count * errors.Length);
        foreach (var cluster in clusters)
        {
            foreach (var error in errors)
            {
                measurements.Add(new Measurement<long>(cluster.Metrics.Errors(error), Cluster(cluster), new("kind", ClusterMetrics.ErrorNames[(int)error])));
            }
        }

        return measurements;
    }

    private static List<Measurement<long>> RouteRequests(ProxyConfigSnapshot config)
    {
        var measurements = new List<Measurement<long>>(config.RouteCounters.Count * StatusCodeLabels.Count);
        foreach (var (name, counters) in config.RouteCounters)
        {
            for (var slot = 0; slot < StatusCodeLabels.Count; slot++)
            {
                measurements.Add(new Measurement<long>(counters.RequestsIn(slot), new("route", name), new("code", StatusCodeLabels.Names[slot])));
            }
        }

        return measurements;
    }

    /// <summary>
    /// Whether a cluster's endpoints are exported, read at collection time so a reload that changes the option only
    /// reconfigures the cluster. Auto bounds the cardinality: at most <see cref="ClusterOptions.AutoEndpointMetricsLimit"/>
    /// endpoints.
    /// </summary>
    internal static bool ExportsEndpoints(Clusters.ProxyCluster cluster, int endpoints) => cluster.Options.EndpointMetrics switch
    {
        EndpointMetricsMode.On => true,
        EndpointMetricsMode.Off => false,
        _ => endpoints <= ClusterOptions.AutoEndpointMetricsLimit,
    };

    /// <summary>Each exported endpoint of each cluster with its totals (null before its first attempt: the series read 0).</summary>
    private static IEnumerable<(KeyValuePair<string, object?> Cluster, KeyValuePair<string, object?> Endpoint, Clusters.EndpointTotals? Totals)> ExportedEndpoints(
        IReadOnlyList<Clusters.ProxyCluster> clusters)
    {
        foreach (var cluster in clusters)
        {
            var set = cluster.Source.Current;
            if (!ExportsEndpoints(cluster, set.Count))
            {
                continue;
            }

            var name = Cluster(cluster);
            for (var i = 0; i < set.Count; i++)
            {
                yield return (name, new("endpoint", set.Endpoints[i].ToString()), cluster.Totals(set.States[i]));
            }
        }
    }

    private static List<Measurement<long>> EndpointRequests(IReadOnlyList<Clusters.ProxyCluster> clusters)
    {
        var measurements = new List<Measurement<long>>();
        foreach (var (cluster, endpoint, totals) in ExportedEndpoints(clusters))
        {
            measurements.Add(new Measurement<long>(totals?.Requests ?? 0, cluster, endpoint));
        }

        return measurements;
    }

    private static List<Measurement<long>> EndpointResponses(IReadOnlyList<Clusters.ProxyCluster> clusters)
    {
        var measurements = new List<Measurement<long>>();
        foreach (var (cluster, endpoint, totals) in ExportedEndpoints(clusters))
        {
            for (var slot = StatusCodeLabels.None + 1; slot < StatusCodeLabels.Count; slot++)
            {
                measurements.Add(new Measurement<long>(totals?.ResponsesIn(slot) ?? 0, cluster, endpoint, new("code", StatusCodeLabels.Names[slot])));
            }
        }

        return measurements;
    }

    private static List<Measurement<long>> EndpointErrors(IReadOnlyList<Clusters.ProxyCluster> clusters)
    {
        var measurements = new List<Measurement<long>>();
        foreach (var (cluster, endpoint, totals) in ExportedEndpoints(clusters))
        {
            measurements.Add(new Measurement<long>(totals?.Timeouts ?? 0, cluster, endpoint, new("kind", "timeout")));
            measurements.Add(new Measurement<long>(totals?.Resets ?? 0, cluster, endpoint, new("kind", "reset")));
            for (var kind = 0; kind < Clusters.EndpointTotals.ConnectFailureNames.Length; kind++)
            {
                measurements.Add(new Measurement<long>(totals?.ConnectFailures((Clusters.ConnectFailure)kind) ?? 0, cluster, endpoint,
                    new("kind", "connect_" + Clusters.EndpointTotals.ConnectFailureNames[kind])));
            }
        }

        return measurements;
    }

    private static List<Measurement<long>> Rejections(RequestRejections rejections)
    {
        var reasons = Enum.GetValues<RequestRejection>();
        var measurements = new List<Measurement<long>>(reasons.Length);
        foreach (var reason in reasons)
        {
            measurements.Add(new Measurement<long>(rejections.Count(reason), new KeyValuePair<string, object?>("reason", RequestRejections.ReasonNames[(int)reason])));
        }

        return measurements;
    }

    private static List<Measurement<int>> Endpoints(IReadOnlyList<Clusters.ProxyCluster> clusters)
    {
        var measurements = new List<Measurement<int>>(clusters.Count * 3);
        foreach (var cluster in clusters)
        {
            var status = cluster.Balancer.Status;
            measurements.Add(new Measurement<int>(status.TotalEndpoints, Cluster(cluster), new("state", "total")));
            measurements.Add(new Measurement<int>(status.UsableEndpoints, Cluster(cluster), new("state", "usable")));
            measurements.Add(new Measurement<int>(status.EjectedEndpoints, Cluster(cluster), new("state", "ejected")));
        }

        return measurements;
    }

    private static Measurement<long>[] Reloads(ProxyRuntime runtime) =>
    [
        new(runtime.Reloads(ReloadOutcome.Applied), new KeyValuePair<string, object?>("outcome", ProxyRuntime.OutcomeName(ReloadOutcome.Applied))),
        new(runtime.Reloads(ReloadOutcome.Rejected), new KeyValuePair<string, object?>("outcome", ProxyRuntime.OutcomeName(ReloadOutcome.Rejected))),
        new(runtime.Reloads(ReloadOutcome.Unchanged), new KeyValuePair<string, object?>("outcome", ProxyRuntime.OutcomeName(ReloadOutcome.Unchanged))),
    ];

    private static Measurement<long>[] Buffers(PinnedBlockPool blocks) =>
    [
        new((long)blocks.InUse * PinnedBlockPool.BlockSize, new KeyValuePair<string, object?>("state", "in_use")),
        new((long)blocks.Retained * PinnedBlockPool.BlockSize, new KeyValuePair<string, object?>("state", "free")),
    ];

    private static void WriteLatency(StringBuilder text, IReadOnlyList<Clusters.ProxyCluster> clusters)
    {
        foreach (var cluster in clusters)
        {
            var (cumulative, sum) = cluster.Metrics.UpstreamLatency.Snapshot();
            var labels = "{cluster=\"" + PrometheusText.Escape(cluster.Name) + "\"";
            for (var i = 0; i < cumulative.Length; i++)
            {
                var le = i < LatencyHistogram.BoundsSeconds.Length ? LatencyHistogram.BoundsSeconds[i].ToString(CultureInfo.InvariantCulture) : "+Inf";
                PrometheusText.Line(text, "lb_proxy_upstream_latency_seconds_bucket", labels + ",le=\"" + le + "\"}", cumulative[i]);
            }

            PrometheusText.Line(text, "lb_proxy_upstream_latency_seconds_sum", labels + "}", sum);
            PrometheusText.Line(text, "lb_proxy_upstream_latency_seconds_count", labels + "}", cumulative[^1]);
        }
    }
}

/// <summary>
/// How an instrument of the proxy's meter appears on /metrics: the Prometheus name and type it has always had (kept
/// verbatim rather than derived from the dotted name, so alerts keep working), and for the histogram the writer of its
/// samples.
/// </summary>
internal sealed record PrometheusFamily(Instrument Instrument, string Name, string Type, Action<StringBuilder>? WriteSamples);
