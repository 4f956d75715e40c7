namespace LoadBalancing.Proxy;

/// <summary>
/// The whole proxy configuration: where it listens, how requests are routed and the clusters they go to.
/// Bound from the <c>Proxy</c> configuration section; see <c>docs/proxy.md</c> for a complete example.
/// </summary>
public sealed class ProxyOptions
{
    /// <summary>The addresses the proxy accepts requests on.</summary>
    public IList<ListenerOptions> Listeners { get; } = new List<ListenerOptions>();

    /// <summary>The admin endpoint (health, readiness, metrics, backends).</summary>
    public AdminOptions Admin { get; set; } = new();

    /// <summary>Host and path-prefix routes to clusters; the most specific match wins.</summary>
    public IList<RouteOptions> Routes { get; } = new List<RouteOptions>();

    /// <summary>The clusters requests are balanced over, by name.</summary>
    public IDictionary<string, ClusterOptions> Clusters { get; } = new Dictionary<string, ClusterOptions>(StringComparer.Ordinal);

    /// <summary>
    /// The largest request body accepted, in bytes; larger ones get 413. Default null: no limit, bodies are
    /// streamed and never held whole (Kestrel's own default of 30 MB suits an application, not a proxy).
    /// </summary>
    public long? MaxRequestBodySize { get; set; }

    /// <summary>How long a graceful shutdown waits for in-flight requests before closing them. Default 10 s.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The access log (off unless enabled).</summary>
    public AccessLogOptions AccessLog { get; set; } = new();
}

/// <summary>One address the proxy listens on.</summary>
public sealed class ListenerOptions
{
    /// <summary>The URL to bind, for example <c>http://127.0.0.1:8080</c> or <c>https://0.0.0.0:8443</c>.</summary>
    public string Url { get; set; } = "";

    /// <summary>
    /// The HTTP versions accepted. Default: HTTP/1.1 and HTTP/2 over TLS (ALPN chooses), HTTP/1.1 without.
    /// Without TLS, <c>Http2</c> serves prior-knowledge h2c; Kestrel cannot offer both on one cleartext port.
    /// </summary>
    public ListenerProtocols? Protocols { get; set; }

    /// <summary>A PFX (PKCS #12) certificate file for <c>https</c> URLs.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The password of <see cref="CertificatePath"/>, if any.</summary>
    public string? CertificatePassword { get; set; }
}

/// <summary>The HTTP versions a listener accepts.</summary>
public enum ListenerProtocols
{
    /// <summary>HTTP/1.1 only.</summary>
    Http1,

    /// <summary>HTTP/2 only (prior knowledge without TLS).</summary>
    Http2,

    /// <summary>HTTP/1.1 and HTTP/2 (negotiated by ALPN over TLS).</summary>
    Http1AndHttp2,
}

/// <summary>The admin endpoint.</summary>
public sealed class AdminOptions
{
    /// <summary>Whether the admin endpoint is served. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The admin URL. Default <c>http://127.0.0.1:9901</c>: keep it off public interfaces.</summary>
    public string Url { get; set; } = "http://127.0.0.1:9901";
}

/// <summary>A route: requests whose host and path match go to <see cref="Cluster"/>.</summary>
public sealed class RouteOptions
{
    /// <summary>
    /// The host to match: exact (<c>api.example.com</c>), a suffix (<c>*.example.com</c>, which does not
    /// match <c>example.com</c> itself) or <c>*</c> for any (the default). Case-insensitive, port ignored.
    /// </summary>
    public string Host { get; set; } = "*";

    /// <summary>
    /// The path prefix to match, starting with <c>/</c> (the default, matching everything). It matches whole
    /// segments: <c>/api</c> matches <c>/api</c> and <c>/api/v1</c> but not <c>/apis</c>. Case-sensitive.
    /// </summary>
    public string Path { get; set; } = "/";

    /// <summary>The name of the cluster to send matching requests to.</summary>
    public string Cluster { get; set; } = "";
}
