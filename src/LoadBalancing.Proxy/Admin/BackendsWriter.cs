using System.Globalization;
using System.Text;
using System.Text.Json;
using LoadBalancing.Proxy.Clusters;

namespace LoadBalancing.Proxy.Admin;

/// <summary>The <c>/backends</c> view: every cluster and every endpoint with what the balancer knows of it.</summary>
internal static class BackendsWriter
{
    /// <param name="runtime">The proxy.</param>
    /// <param name="only">One cluster to write, alone (no routes or route sources); null for the whole view.</param>
    public static string Write(ProxyRuntime runtime, ProxyCluster? only = null)
    {
        var now = runtime.Time.GetUtcNow();
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("now", now);
            json.WriteStartArray("clusters");
            if (only is not null)
            {
                WriteCluster(json, only, now);
                json.WriteEndArray();
            }
            else
            {
                foreach (var cluster in runtime.Clusters)
                {
                    WriteCluster(json, cluster, now);
                }

                json.WriteEndArray();
                WriteRoutes(json, runtime);
                WriteRouteSources(json, runtime);
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Each route in service: where it came from (the object and its version) and how fresh its clusters are.</summary>
    private static void WriteRoutes(Utf8JsonWriter json, ProxyRuntime runtime)
    {
        var config = runtime.Config;
        json.WriteStartArray("routes");
        foreach (var route in config.Options.Routes)
        {
            json.WriteStartObject();
            json.WriteString("name", route.Name);
            if (route.Origin is { } origin)
            {
                json.WritePropertyName("origin");
                ProxyOptionsJson.WriteOrigin(json, origin);
            }

            json.WriteStartArray("clusters");
            foreach (var name in route.Backends.Select(b => b.Cluster).Append(route.Cluster).OfType<string>().Distinct(StringComparer.Ordinal))
            {
                if (config.ClustersByName.TryGetValue(name, out var cluster))
                {
                    json.WriteStartObject();
                    json.WriteString("name", name);
                    json.WriteString("freshness", cluster.Freshness);
                    json.WriteNumber("usableEndpoints", cluster.Balancer.Status.UsableEndpoints);
                    json.WriteEndObject();
                }
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    /// <summary>Each route source: whether it has published, and how fresh each of its feeds is.</summary>
    private static void WriteRouteSources(Utf8JsonWriter json, ProxyRuntime runtime)
    {
        json.WriteStartArray("routeSources");
        foreach (var source in runtime.RouteSources)
        {
            json.WriteStartObject();
            json.WriteString("name", source.Name);
            json.WriteBoolean("published", source.HasPublished);
            json.WriteNumber("routes", source.Current.Routes.Count);
            json.WriteStartArray("feeds");
            foreach (var feed in source.Feeds)
            {
                json.WriteStartObject();
                json.WriteString("name", feed.Name);
                json.WriteBoolean("synced", feed.Synced);
                json.WriteBoolean("connected", feed.Connected);
                WriteSeconds(json, "secondsSinceLastHeard", feed.SinceLastHeard);
                WriteSeconds(json, "secondsSinceLastFullRead", feed.SinceLastFullRead);
                json.WriteNumber("objects", feed.Objects);
                json.WriteNumber("unreadable", feed.Unreadable);
                json.WriteNumber("missed", feed.Missed);
                if (feed.LastError is { } error)
                {
                    json.WriteString("lastError", error);
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    /// <summary>
    /// Where the endpoints come from (the configuration, or a Kubernetes Service), what the latest publish was built
    /// from (for a Service, its EndpointSlices), and the hash key, if any.
    /// </summary>
    private static void WriteSource(Utf8JsonWriter json, ClusterOptions options, EndpointSource source)
    {
        json.WriteStartObject("source");
        if (options.Kubernetes is { } service)
        {
            json.WriteString("kind", "KubernetesService");
            json.WriteString("namespace", service.Namespace);
            json.WriteString("service", service.Service);
            if (service.Port is { } port)
            {
                json.WriteString("port", port);
            }
        }
        else
        {
            json.WriteString("kind", "Configuration");
        }

        var origins = source.Origins;
        if (options.Kubernetes is not null || origins.Count > 0)
        {
            json.WriteStartArray("origins");
            foreach (var origin in origins)
            {
                json.WriteStartObject();
                json.WriteString("kind", origin.Kind);
                json.WriteString("name", origin.Name);
                if (origin.Version is { } version)
                {
                    json.WriteString("version", version);
                }
                else
                {
                    json.WriteNull("version");
                }

                json.WriteStartObject("details");
                foreach (var (key, value) in origin.Details)
                {
                    json.WriteString(key, value);
                }

                json.WriteEndObject();
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        json.WriteEndObject();
        if (options.HashKey.Source != HashKeySource.None)
        {
            json.WriteStartObject("hashKey");
            json.WriteString("source", options.HashKey.Source.ToString());
            if (options.HashKey.Name is { } name)
            {
                json.WriteString("name", name);
            }

            json.WriteEndObject();
        }

        if (options.SessionAffinity is { Enabled: true } affinity)
        {
            json.WriteStartObject("sessionAffinity");
            json.WriteString("cookie", affinity.CookieName);
            json.WriteEndObject();
        }
    }

    private static void WriteSeconds(Utf8JsonWriter json, string name, TimeSpan? value)
    {
        if (value is { } span)
        {
            json.WriteNumber(name, Math.Round(span.TotalSeconds, 3));
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static void WriteCluster(Utf8JsonWriter json, ProxyCluster cluster, DateTimeOffset now)
    {
        var status = cluster.Balancer.Status;
        var set = cluster.Source.Current;
        json.WriteStartObject();
        json.WriteString("name", cluster.Name);
        json.WriteString("algorithm", cluster.Options.Algorithm.ToString());
        json.WriteString("protocol", cluster.IsMultiplexed ? "Http2" : "Http1");
        json.WriteString("discovery", cluster.StalenessBound is null ? "static" : "dynamic");
        WriteSource(json, cluster.Options, cluster.Source);
        json.WriteNumber("endpointSetVersion", set.Version);
        WriteTime(json, "lastChanged", cluster.Source.LastChanged);
        WriteTime(json, "lastConfirmed", cluster.Source.LastConfirmed);
        if (cluster.Source.Staleness() is { } age)
        {
            json.WriteNumber("stalenessSeconds", Math.Round(age.TotalSeconds, 3));
        }

        json.WriteBoolean("stale", cluster.IsStale);
        json.WriteString("freshness", cluster.Freshness);
        json.WriteNumber("totalEndpoints", status.TotalEndpoints);
        json.WriteNumber("usableEndpoints", status.UsableEndpoints);
        json.WriteNumber("ejectedEndpoints", status.EjectedEndpoints);
        if (cluster.HealthChecks is not null)
        {
            json.WriteNumber("unhealthyEndpoints", status.UnhealthyEndpoints);
        }

        json.WriteBoolean("inPanic", status.InPanic);
        if (cluster.Balancer.Options.Zone is { } zone)
        {
            json.WriteString("zone", zone);
            json.WriteBoolean("inZone", status.InZone);
        }

        json.WriteString("pickerBuilt", status.Built);
        json.WriteNumber("inFlightRequests", cluster.Metrics.InFlight);
        if (cluster.Options.MaxConcurrentRequests is { } limit)
        {
            json.WriteNumber("maxConcurrentRequests", limit);
        }

        if (cluster.Options.MaxRequestsPerEndpoint is { } perEndpoint)
        {
            json.WriteNumber("maxRequestsPerEndpoint", perEndpoint);
        }

        if (cluster.SessionCookie is not null)
        {
            json.WriteNumber("sessionsMoved", cluster.Metrics.SessionsMoved);
        }

        json.WriteNumber("openConnections", cluster.Metrics.ConnectionsOpen);
        if (cluster.Balancer.Options.Fallback is { } fallback)
        {
            json.WriteString("fallback", fallback.ToString());
            json.WriteNumber("fallbackRequests", cluster.Metrics.FallbackRequests);
        }

        if (cluster.Tls is { } tls)
        {
            WriteTls(json, tls);
        }

        json.WriteStartArray("endpoints");
        for (var i = 0; i < set.Count; i++)
        {
            WriteEndpoint(json, cluster, set.Endpoints[i], set.States[i], now);
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>The cluster's upstream TLS: what is checked, and the certificate files in use.</summary>
    private static void WriteTls(Utf8JsonWriter json, Upstream.Tls.UpstreamTlsSettings tls)
    {
        var options = tls.Options;
        json.WriteStartObject("tls");
        if (options.ServerName is { } serverName)
        {
            json.WriteString("serverName", serverName);
        }

        json.WriteString("minimumProtocol", options.MinimumProtocol.ToString());
        json.WriteBoolean("skipValidation", options.SkipValidation);
        json.WriteString("trust", options.CaFile ?? "system");
        if (tls.Material?.ClientLeaf is { } client)
        {
            json.WriteStartObject("clientCertificate");
            json.WriteString("subject", client.Subject);
            json.WriteString("notAfter", client.NotAfter.ToUniversalTime());
            json.WriteEndObject();
        }

        json.WriteString("filesLoadedAt", tls.MaterialLoadedAt);
        if (tls.FileProblem is { } problem)
        {
            json.WriteString("filesProblem", problem);
        }

        json.WriteEndObject();
    }

    private static void WriteEndpoint(Utf8JsonWriter json, ProxyCluster cluster, BackendEndpoint endpoint, EndpointState state, DateTimeOffset now)
    {
        json.WriteStartObject();
        json.WriteString("address", endpoint.Address);
        json.WriteNumber("port", endpoint.Port);
        json.WriteNumber("weight", endpoint.Weight);
        if (endpoint.Zone is not null)
        {
            json.WriteString("zone", endpoint.Zone);
        }

        if (endpoint.ForZones.Count > 0)
        {
            json.WriteStartArray("forZones");
            foreach (var hinted in endpoint.ForZones)
            {
                json.WriteStringValue(hinted);
            }

            json.WriteEndArray();
        }

        if (cluster.SessionCookie is not null)
        {
            // The value of the affinity cookie that names this endpoint, to tell which endpoint a client is tied to.
            json.WriteString("affinityKey", endpoint.AffinityKey.ToString("x16", CultureInfo.InvariantCulture));
        }

        json.WriteStartArray("conditions");
        foreach (var condition in new[] { EndpointConditions.Ready, EndpointConditions.Serving, EndpointConditions.Terminating })
        {
            if (endpoint.Conditions.HasFlag(condition))
            {
                json.WriteStringValue(condition.ToString().ToLowerInvariant());
            }
        }

        json.WriteEndArray();
        json.WriteNumber("inFlight", state.InFlight);
        if (state.LatencyEstimate is { } ewma)
        {
            json.WriteNumber("ewmaMilliseconds", Math.Round(ewma.TotalMilliseconds, 3));
        }

        // This cluster's own verdicts: another cluster over the same Service keeps its own.
        var outlier = cluster.Balancer.GetOutlierState(state);
        json.WriteNumber("consecutiveFailures", outlier?.ConsecutiveFailures ?? 0);
        json.WriteNumber("ejections", outlier?.EjectionCount ?? 0);
        var ejectedUntil = outlier?.EjectedUntil;
        json.WriteBoolean("ejected", ejectedUntil is { } until && until > now);
        WriteTime(json, "ejectedUntil", ejectedUntil);
        json.WriteNumber("ejectionsTotal", outlier?.TotalEjections ?? 0);
        if (outlier?.LastEjected is { } lastEjected)
        {
            json.WriteStartObject("lastEjection");
            json.WriteString("at", lastEjected);
            json.WriteString("reason", outlier.LastEjectionReason);
            json.WriteEndObject();
        }

        if (cluster.HealthChecks is { } checks)
        {
            WriteHealth(json, checks.Snapshot(state));
        }

        json.WriteString("lastStateChange", outlier?.LastStateChange ?? state.FirstSeen);
        json.WriteNumber("idleConnections", cluster.IdleConnections(state));
        WriteTotals(json, cluster.Totals(state));
        if (cluster.LastErrors.TryGetValue(state, out var error))
        {
            json.WriteStartObject("lastError");
            json.WriteString("at", error.At);
            json.WriteString("kind", error.Kind);
            json.WriteString("message", error.Message);
            json.WriteEndObject();
        }

        json.WriteEndObject();
    }

    /// <summary>The active health check's view of the endpoint (only for clusters that have one).</summary>
    private static void WriteHealth(Utf8JsonWriter json, Health.HealthSnapshot? health)
    {
        health ??= Health.HealthSnapshot.Initial;
        json.WriteStartObject("health");
        json.WriteString("state", health.State switch
        {
            Health.ProbeState.Healthy => "healthy",
            Health.ProbeState.Unhealthy => "unhealthy",
            _ => "unknown",
        });
        WriteTime(json, "lastProbe", health.LastProbe);
        if (health.LastResult is { } result)
        {
            json.WriteString("lastResult", result);
        }
        else
        {
            json.WriteNull("lastResult");
        }

        json.WriteNumber("streak", health.Streak);
        WriteTime(json, "lastChange", health.LastChange);
        json.WriteEndObject();
    }

    /// <summary>The endpoint's running totals since it joined (zeros before its first attempt).</summary>
    private static void WriteTotals(Utf8JsonWriter json, EndpointTotals? totals)
    {
        json.WriteNumber("requests", totals?.Requests ?? 0);
        json.WriteStartObject("responses");
        for (var statusClass = 2; statusClass <= 5; statusClass++)
        {
            json.WriteNumber(ResponseClassNames[statusClass - 2], totals?.Responses(statusClass) ?? 0);
        }

        json.WriteEndObject();
        json.WriteNumber("timeouts", totals?.Timeouts ?? 0);
        json.WriteStartObject("connectFailures");
        for (var kind = 0; kind < EndpointTotals.ConnectFailureNames.Length; kind++)
        {
            json.WriteNumber(EndpointTotals.ConnectFailureNames[kind], totals?.ConnectFailures((ConnectFailure)kind) ?? 0);
        }

        json.WriteEndObject();
        json.WriteNumber("resets", totals?.Resets ?? 0);
        json.WriteNumber("retriedElsewhere", totals?.RetriedElsewhere ?? 0);
    }

    private static readonly string[] ResponseClassNames = ["2xx", "3xx", "4xx", "5xx"];

    private static void WriteTime(Utf8JsonWriter json, string name, DateTimeOffset? value)
    {
        if (value is { } time)
        {
            json.WriteString(name, time);
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
