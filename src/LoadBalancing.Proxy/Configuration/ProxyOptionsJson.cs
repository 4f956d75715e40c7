using System.Buffers;
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

    public static void WriteProxy(Utf8JsonWriter json, ProxyOptions options, bool redact = true)
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
            WriteOptional(json, "CertificatePassword", listener.CertificatePassword is null || !redact ? listener.CertificatePassword : Redacted);
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
            WriteRoute(json, route, redact);
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
        WriteOptional(json, "Zone", options.Zone);
        json.WriteBoolean("TrustForwardedHeaders", options.TrustForwardedHeaders);
        json.WriteString("Transport", options.Transport.ToString());
        json.WriteEndObject();
    }

    /// <summary>A cluster's definition apart from its static endpoints: equal text, same balancer and pools.</summary>
    public static string Definition(ClusterOptions cluster) => Text(json => WriteCluster(json, cluster, withEndpoints: false));

    /// <summary>
    /// A cluster's definition apart from its static endpoints and the options of forwarding alone (timeouts, attempts,
    /// host header, response head limit, hash key): equal text, the same balancer and pools can serve it.
    /// </summary>
    public static string Core(ClusterOptions cluster) => Text(json => WriteCluster(json, cluster, withEndpoints: false, withForwarding: false));

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

    // A reload writes the whole configuration as JSON twice (hundreds of KB with 1,000 routes): written into a buffer kept
    // per thread, only the resulting strings are allocated, not a growing stream and its copy on the large object heap.
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    private const int KeptBufferBytes = 4 * 1024 * 1024;

    public static string Text(Action<Utf8JsonWriter> write)
    {
        var buffer = t_buffer ?? new ArrayBufferWriter<byte>(4096);
        t_buffer = null; // a nested call (none today) gets a buffer of its own
        try
        {
            using (var json = new Utf8JsonWriter(buffer))
            {
                write(json);
            }

            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
        finally
        {
            if (buffer.Capacity <= KeptBufferBytes)
            {
                buffer.ResetWrittenCount();
                t_buffer = buffer;
            }
        }
    }

    private static void WriteRoute(Utf8JsonWriter json, ProxyRouteOptions route, bool redact)
    {
        json.WriteStartObject();
        WriteOptional(json, "Name", route.Name);
        WriteStrings(json, "Hosts", route.Hosts);
        json.WriteString("Path", route.Path);
        json.WriteString("PathType", route.PathType.ToString());
        WriteStrings(json, "Methods", route.Methods);
        WriteList(json, "Ports", route.Ports, static (json, port) => json.WriteNumberValue(port));
        WriteMatches(json, "Headers", route.Headers);
        WriteMatches(json, "QueryParameters", route.QueryParameters);
        WriteOptional(json, "Cluster", route.Cluster);
        WriteList(json, "Backends", route.Backends, static (json, backend) =>
        {
            json.WriteStartObject();
            json.WriteString("Cluster", backend.Cluster);
            json.WriteNumber("Weight", backend.Weight);
            json.WriteEndObject();
        });

        if (route.Rewrite is { } rewrite)
        {
            json.WriteStartObject("Rewrite");
            WriteOptional(json, "Hostname", rewrite.Hostname);
            WriteOptional(json, "ReplacePrefixMatch", rewrite.ReplacePrefixMatch);
            WriteOptional(json, "ReplaceFullPath", rewrite.ReplaceFullPath);
            json.WriteEndObject();
        }

        if (route.Redirect is { } redirect)
        {
            json.WriteStartObject("Redirect");
            WriteOptional(json, "Scheme", redirect.Scheme);
            WriteOptional(json, "Hostname", redirect.Hostname);
            if (redirect.Port is { } port)
            {
                json.WriteNumber("Port", port);
            }

            WriteOptional(json, "ReplacePrefixMatch", redirect.ReplacePrefixMatch);
            WriteOptional(json, "ReplaceFullPath", redirect.ReplaceFullPath);
            json.WriteNumber("StatusCode", redirect.StatusCode);
            json.WriteEndObject();
        }

        if (route.DirectResponse is { } direct)
        {
            json.WriteStartObject("DirectResponse");
            json.WriteNumber("StatusCode", direct.StatusCode);
            WriteOptional(json, "Body", direct.Body);
            json.WriteString("ContentType", direct.ContentType);
            json.WriteEndObject();
        }

        WriteHeaderModifier(json, "RequestHeaders", route.RequestHeaders, redact);
        WriteHeaderModifier(json, "ResponseHeaders", route.ResponseHeaders, redact);
        if (route.Timeouts is { } timeouts)
        {
            json.WriteStartObject("Timeouts");
            WriteOptional(json, "Request", timeouts.Request is { } request ? Duration(request) : null);
            WriteOptional(json, "ResponseHeader", timeouts.ResponseHeader is { } header ? Duration(header) : null);
            json.WriteEndObject();
        }

        if (route.Retry is { } retry)
        {
            json.WriteStartObject("Retry");
            json.WriteNumber("MaxAttempts", retry.MaxAttempts);
            WriteStrings(json, "On", retry.On);
            json.WriteNumber("BudgetPercent", retry.BudgetPercent);
            json.WriteNumber("MinRetryConcurrency", retry.MinRetryConcurrency);
            json.WriteEndObject();
        }

        if (route.AccessLogSampleRate is { } rate)
        {
            json.WriteNumber("AccessLogSampleRate", rate);
        }

        if (route.AuthorizationPolicy is { } authorization)
        {
            json.WriteString("AuthorizationPolicy", authorization);
        }

        if (route.RateLimiterPolicy is { } rateLimiter)
        {
            json.WriteString("RateLimiterPolicy", rateLimiter);
        }

        if (route.CorsPolicy is { } cors)
        {
            json.WriteString("CorsPolicy", cors);
        }

        if (route.Origin is { } origin)
        {
            json.WritePropertyName("Origin");
            WriteOrigin(json, origin);
        }

        json.WriteEndObject();
    }

    /// <summary>A route's origin: <c>{ "Kind", "Namespace", "Name", "ResourceVersion", "Problem" }</c>, nulls left out.</summary>
    internal static void WriteOrigin(Utf8JsonWriter json, RouteOrigin origin)
    {
        json.WriteStartObject();
        json.WriteString("Kind", origin.Kind);
        WriteOptional(json, "Namespace", origin.Namespace);
        json.WriteString("Name", origin.Name);
        WriteOptional(json, "ResourceVersion", origin.ResourceVersion);
        WriteOptional(json, "Problem", origin.Problem);
        json.WriteEndObject();
    }

    /// <summary>Headers whose configured values are credentials: /config does not show them.</summary>
    internal static bool IsSecretHeader(string name) =>
        name.Equals("Authorization", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Proxy-Authorization", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Cookie", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Set-Cookie", StringComparison.OrdinalIgnoreCase)
        || name.Contains("token", StringComparison.OrdinalIgnoreCase)
        || name.Contains("secret", StringComparison.OrdinalIgnoreCase)
        || name.Contains("key", StringComparison.OrdinalIgnoreCase)
        || name.Contains("password", StringComparison.OrdinalIgnoreCase);

    private static void WriteStrings(Utf8JsonWriter json, string name, IList<string> values) =>
        WriteList(json, name, values, static (json, value) => json.WriteStringValue(value));

    private static void WriteMatches(Utf8JsonWriter json, string name, IList<ValueMatchOptions> matches) =>
        WriteList(json, name, matches, static (json, match) =>
        {
            json.WriteStartObject();
            json.WriteString("Name", match.Name);
            WriteOptional(json, "Value", match.Value);
            json.WriteString("Type", match.Type.ToString());
            json.WriteEndObject();
        });

    /// <summary>A list under its key, left out when empty (an empty list and no list bind the same).</summary>
    private static void WriteList<T>(Utf8JsonWriter json, string name, IList<T> items, Action<Utf8JsonWriter, T> write)
    {
        if (items.Count == 0)
        {
            return;
        }

        json.WriteStartArray(name);
        foreach (var item in items)
        {
            write(json, item);
        }

        json.WriteEndArray();
    }

    private static void WriteHeaderModifier(Utf8JsonWriter json, string name, HeaderModifierOptions? modifier, bool redact)
    {
        if (modifier is null)
        {
            return;
        }

        json.WriteStartObject(name);
        WriteHeaders(json, "Set", modifier.Set, redact);
        WriteHeaders(json, "Add", modifier.Add, redact);
        WriteStrings(json, "Remove", modifier.Remove);
        json.WriteEndObject();
    }

    private static void WriteHeaders(Utf8JsonWriter json, string name, IList<HeaderValueOptions> headers, bool redact) =>
        WriteList(json, name, headers, (json, header) =>
        {
            json.WriteStartObject();
            json.WriteString("Name", header.Name);
            json.WriteString("Value", redact && IsSecretHeader(header.Name) ? Redacted : header.Value);
            json.WriteEndObject();
        });

    private static void WriteCluster(Utf8JsonWriter json, ClusterOptions cluster, bool withEndpoints, bool withForwarding = true)
    {
        json.WriteStartObject();
        json.WriteString("Algorithm", cluster.Algorithm.ToString());
        WriteOptional(json, "Protocol", cluster.Protocol?.ToString());
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

        if (withForwarding)
        {
            json.WriteStartObject("HashKey");
            json.WriteString("Source", cluster.HashKey.Source.ToString());
            WriteOptional(json, "Name", cluster.HashKey.Name);
            json.WriteEndObject();
            if (cluster.SessionAffinity is { } affinity)
            {
                json.WriteStartObject("SessionAffinity");
                json.WriteBoolean("Enabled", affinity.Enabled);
                json.WriteString("CookieName", affinity.CookieName);
                json.WriteString("Path", affinity.Path);
                WriteOptional(json, "Domain", affinity.Domain);
                WriteOptional(json, "MaxAge", affinity.MaxAge is { } maxAge ? Duration(maxAge) : null);
                json.WriteString("Secure", affinity.Secure.ToString());
                json.WriteString("SameSite", affinity.SameSite.ToString());
                json.WriteBoolean("HttpOnly", affinity.HttpOnly);
                json.WriteEndObject();
            }
        }

        WriteOptional(json, "Fallback", cluster.Fallback);
        if (cluster.Tls is { } tls)
        {
            // Part of the core: a change rebuilds the pools, so no connection outlives the TLS settings it was made with.
            json.WriteStartObject("Tls");
            json.WriteBoolean("Enabled", tls.Enabled);
            WriteOptional(json, "ServerName", tls.ServerName);
            WriteOptional(json, "CaFile", tls.CaFile);
            WriteOptional(json, "ClientCertificateFile", tls.ClientCertificateFile);
            WriteOptional(json, "ClientKeyFile", tls.ClientKeyFile);
            json.WriteString("MinimumProtocol", tls.MinimumProtocol.ToString());
            json.WriteBoolean("SkipValidation", tls.SkipValidation);
            json.WriteEndObject();
        }

        if (withForwarding)
        {
            json.WriteBoolean("PreserveHost", cluster.PreserveHost);
            json.WriteNumber("MaxAttempts", cluster.MaxAttempts);
            json.WriteString("ConnectTimeout", Duration(cluster.ConnectTimeout));
            json.WriteString("ResponseHeaderTimeout", Duration(cluster.ResponseHeaderTimeout));
            json.WriteString("IdleTimeout", Duration(cluster.IdleTimeout));
            json.WriteStartObject("Grpc");
            json.WritePropertyName("FailureStatuses");
            json.WriteStartArray();
            foreach (var status in (IEnumerable<GrpcStatusCode>?)cluster.Grpc.FailureStatuses ?? GrpcOptions.DefaultFailureStatuses)
            {
                json.WriteStringValue(status.ToString());
            }

            json.WriteEndArray();
            json.WriteBoolean("HonourDeadlines", cluster.Grpc.HonourDeadlines);
            json.WriteEndObject();
        }

        json.WriteString("PooledConnectionIdleTimeout", Duration(cluster.PooledConnectionIdleTimeout));
        json.WriteNumber("MaxIdleConnectionsPerEndpoint", cluster.MaxIdleConnectionsPerEndpoint);
        if (withForwarding)
        {
            json.WriteNumber("MaxResponseHeaderBytes", cluster.MaxResponseHeaderBytes);
            if (cluster.MaxConcurrentRequests is { } limit)
            {
                json.WriteNumber("MaxConcurrentRequests", limit);
            }

            if (cluster.MaxRequestsPerEndpoint is { } perEndpoint)
            {
                json.WriteNumber("MaxRequestsPerEndpoint", perEndpoint);
            }
        }
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
        if (cluster.HealthCheck is { } health)
        {
            // Part of the cluster's core: a change rebuilds the balancer (its AssumeHealthy follows InitialState).
            json.WriteStartObject("HealthCheck");
            json.WriteBoolean("Enabled", health.Enabled);
            json.WriteString("Protocol", health.Protocol.ToString());
            WriteOptional(json, "Path", health.Path);
            WriteOptional(json, "Host", health.Host);
            WriteOptional(json, "ServiceName", health.ServiceName);
            json.WriteString("Interval", Duration(health.Interval));
            WriteOptional(json, "Jitter", health.Jitter is { } jitter ? Duration(jitter) : null);
            json.WriteString("Timeout", Duration(health.Timeout));
            json.WriteNumber("HealthyThreshold", health.HealthyThreshold);
            json.WriteNumber("UnhealthyThreshold", health.UnhealthyThreshold);
            WriteOptional(json, "ExpectedStatuses", health.ExpectedStatuses);
            if (health.Port is { } port)
            {
                json.WriteNumber("Port", port);
            }

            json.WriteString("InitialState", health.InitialState.ToString());
            if (health.UseTls is { } useTls)
            {
                json.WriteBoolean("UseTls", useTls);
            }

            json.WriteEndObject();
        }

        if (withForwarding)
        {
            // Read at collection time only: changing it is a forwarding-only change, the cluster stays.
            json.WriteString("EndpointMetrics", cluster.EndpointMetrics.ToString());
        }

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
