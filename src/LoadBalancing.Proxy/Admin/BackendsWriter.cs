using System.Text;
using System.Text.Json;
using LoadBalancing.Proxy.Clusters;

namespace LoadBalancing.Proxy.Admin;

/// <summary>The <c>/backends</c> view: every cluster and every endpoint with what the balancer knows of it.</summary>
internal static class BackendsWriter
{
    public static string Write(ProxyRuntime runtime)
    {
        var now = runtime.Time.GetUtcNow();
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("now", now);
            json.WriteStartArray("clusters");
            foreach (var cluster in runtime.Clusters)
            {
                WriteCluster(json, cluster, now);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteCluster(Utf8JsonWriter json, ProxyCluster cluster, DateTimeOffset now)
    {
        var status = cluster.Balancer.Status;
        var set = cluster.Source.Current;
        json.WriteStartObject();
        json.WriteString("name", cluster.Name);
        json.WriteString("algorithm", cluster.Options.Algorithm.ToString());
        json.WriteString("discovery", cluster.StalenessBound is null ? "static" : "dynamic");
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
        json.WriteBoolean("inPanic", status.InPanic);
        json.WriteString("pickerBuilt", status.Built);
        json.WriteNumber("inFlightRequests", cluster.Metrics.InFlight);
        json.WriteNumber("openConnections", cluster.Metrics.ConnectionsOpen);
        if (cluster.Balancer.Options.Fallback is { } fallback)
        {
            json.WriteString("fallback", fallback.ToString());
            json.WriteNumber("fallbackRequests", cluster.Metrics.FallbackRequests);
        }

        json.WriteStartArray("endpoints");
        for (var i = 0; i < set.Count; i++)
        {
            WriteEndpoint(json, cluster, set.Endpoints[i], set.States[i], now);
        }

        json.WriteEndArray();
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

        json.WriteNumber("consecutiveFailures", state.ConsecutiveFailures);
        json.WriteNumber("ejections", state.EjectionCount);
        var ejectedUntil = state.EjectedUntil;
        json.WriteBoolean("ejected", ejectedUntil is { } until && until > now);
        WriteTime(json, "ejectedUntil", ejectedUntil);
        json.WriteNumber("idleConnections", cluster.IdleConnections(state));
        if (cluster.LastErrors.TryGetValue(state, out var error))
        {
            json.WriteStartObject("lastError");
            json.WriteString("at", error.At);
            json.WriteString("message", error.Message);
            json.WriteEndObject();
        }

        json.WriteEndObject();
    }

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
