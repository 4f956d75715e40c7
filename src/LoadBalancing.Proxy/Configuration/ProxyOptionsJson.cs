using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LoadBalancing.Proxy;

/// <summary>
/// Writes options as JSON under their configuration key names, by hand so the NativeAOT host needs no reflection.
/// The same text serves <c>GET /config</c> and the reload's "is this cluster unchanged?" comparison, so a key
/// missing here would make the comparison blind to it (keep it in step with <see cref="ProxyConfigurationShape"/>).
/// </summary>
internal static class ProxyOptionsJson
{
    public const string Redacted = "(redacted)";

    public static void WriteProxy(Utf8JsonWriter json, ProxyOptions options)
    {
        json.WriteStartObject();
        json.WriteStartArray("Listeners");
        foreach (var listener in options.Listeners)
        {
            json.WriteStartObject();
            json.WriteString("Url", listener.Url);
            WriteOptional(json, "Protocols", listener.Protocols?.ToString());
            WriteOptional(json, "CertificatePath", listener.CertificatePath);

            // The password of a certificate file is a secret: /config says only whether one is set.
            WriteOptional(json, "CertificatePassword", listener.CertificatePassword is null ? null : Redacted);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartObject("Admin");
        json.WriteBoolean("Enabled", options.Admin.Enabled);
        json.WriteString("Url", options.Admin.Url);
        json.WriteEndObject();
        json.WriteStartArray("Routes");
        foreach (var route in options.Routes)
        {
            json.WriteStartObject();
            json.WriteString("Host", route.Host);
            json.WriteString("Path", route.Path);
            json.WriteString("Cluster", route.Cluster);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartObject("Clusters");
        foreach (var (name, cluster) in options.Clusters.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            json.WritePropertyName(name);
            WriteCluster(json, cluster, withEndpoints: true);
        }

        json.WriteEndObject();
        if (options.MaxRequestBodySize is { } max)
        {
            json.WriteNumber("MaxRequestBodySize", max);
        }

        json.WriteString("DrainTimeout", Duration(options.DrainTimeout));
        json.WriteEndObject();
    }

    /// <summary>A cluster's definition apart from its static endpoints: equal text, same balancer and pools.</summary>
    public static string Definition(ClusterOptions cluster) => Text(json => WriteCluster(json, cluster, withEndpoints: false));

    /// <summary>A cluster's static endpoints in order.</summary>
    public static string Endpoints(ClusterOptions cluster) => Text(json => WriteEndpoints(json, cluster));

    /// <summary>What a running Kestrel server was bound with: changing any of it needs a restart.</summary>
    public static string Listeners(ProxyOptions options) => Text(json =>
    {
        json.WriteStartArray();
        foreach (var listener in options.Listeners)
        {
            json.WriteStartArray();
            json.WriteStringValue(listener.Url);
            json.WriteStringValue(listener.Protocols?.ToString());
            json.WriteStringValue(listener.CertificatePath);
            json.WriteStringValue(listener.CertificatePassword);
            json.WriteEndArray();
        }

        json.WriteEndArray();
    });

    public static string Text(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            write(json);
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteCluster(Utf8JsonWriter json, ClusterOptions cluster, bool withEndpoints)
    {
        json.WriteStartObject();
        json.WriteString("Algorithm", cluster.Algorithm.ToString());
        if (withEndpoints)
        {
            json.WritePropertyName("Endpoints");
            WriteEndpoints(json, cluster);
        }

        if (cluster.Kubernetes is { } kubernetes)
        {
            json.WriteStartObject("Kubernetes");
            json.WriteString("Namespace", kubernetes.Namespace);
            json.WriteString("Service", kubernetes.Service);
            WriteOptional(json, "Port", kubernetes.Port);
            json.WriteEndObject();
        }

        json.WriteStartObject("HashKey");
        json.WriteString("Source", cluster.HashKey.Source.ToString());
        WriteOptional(json, "Name", cluster.HashKey.Name);
        json.WriteEndObject();
        WriteOptional(json, "Fallback", cluster.Fallback);
        json.WriteBoolean("PreserveHost", cluster.PreserveHost);
        json.WriteNumber("MaxAttempts", cluster.MaxAttempts);
        json.WriteString("ConnectTimeout", Duration(cluster.ConnectTimeout));
        json.WriteString("ResponseHeaderTimeout", Duration(cluster.ResponseHeaderTimeout));
        json.WriteString("IdleTimeout", Duration(cluster.IdleTimeout));
        json.WriteString("PooledConnectionIdleTimeout", Duration(cluster.PooledConnectionIdleTimeout));
        json.WriteNumber("MaxIdleConnectionsPerEndpoint", cluster.MaxIdleConnectionsPerEndpoint);
        json.WriteNumber("MaxResponseHeaderBytes", cluster.MaxResponseHeaderBytes);
        json.WriteStartObject("LeastRequest");
        json.WriteNumber("ChoiceCount", cluster.LeastRequest.ChoiceCount);
        json.WriteNumber("ActiveRequestBias", cluster.LeastRequest.ActiveRequestBias);
        json.WriteEndObject();
        json.WriteStartObject("PeakEwma");
        json.WriteString("DecayTime", Duration(cluster.PeakEwma.DecayTime));
        json.WriteString("DefaultRtt", Duration(cluster.PeakEwma.DefaultRtt));
        json.WriteString("PenaltyRtt", Duration(cluster.PeakEwma.PenaltyRtt));
        json.WriteEndObject();
        json.WriteStartObject("Maglev");
        json.WriteNumber("TableSize", cluster.Maglev.TableSize);
        json.WriteEndObject();
        json.WriteStartObject("RingHash");
        json.WriteNumber("MinimumRingSize", cluster.RingHash.MinimumRingSize);
        json.WriteNumber("MaximumRingSize", cluster.RingHash.MaximumRingSize);
        json.WriteEndObject();
        if (cluster.HashBalanceFactor is { } factor)
        {
            json.WriteNumber("HashBalanceFactor", factor);
        }

        json.WriteStartObject("OutlierDetection");
        json.WriteBoolean("Enabled", cluster.OutlierDetection.Enabled);
        json.WriteNumber("ConsecutiveFailures", cluster.OutlierDetection.ConsecutiveFailures);
        json.WriteString("BaseEjectionTime", Duration(cluster.OutlierDetection.BaseEjectionTime));
        json.WriteString("MaxEjectionTime", Duration(cluster.OutlierDetection.MaxEjectionTime));
        json.WriteNumber("MaxEjectionPercent", cluster.OutlierDetection.MaxEjectionPercent);
        json.WriteEndObject();
        json.WriteStartObject("SlowStart");
        json.WriteString("Window", Duration(cluster.SlowStart.Window));
        json.WriteNumber("Aggression", cluster.SlowStart.Aggression);
        json.WriteNumber("MinWeightPercent", cluster.SlowStart.MinWeightPercent);
        json.WriteEndObject();
        json.WriteNumber("PanicThresholdPercent", cluster.PanicThresholdPercent);
        json.WriteEndObject();
    }

    private static void WriteEndpoints(Utf8JsonWriter json, ClusterOptions cluster)
    {
        json.WriteStartArray();
        foreach (var endpoint in cluster.Endpoints)
        {
            json.WriteStartObject();
            json.WriteString("Address", endpoint.Address);
            json.WriteNumber("Weight", endpoint.Weight);
            WriteOptional(json, "Zone", endpoint.Zone);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static void WriteOptional(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }

    private static string Duration(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);
}
