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

    /// <summary>
    /// The routes: what a request must match and what is done with it. The most specific match wins (see
    /// <see cref="ProxyRouteOptions"/> and the precedence in <c>docs/proxy.md</c>).
    /// </summary>
    public IList<ProxyRouteOptions> Routes { get; } = new List<ProxyRouteOptions>();

    /// <summary>The clusters requests are balanced over, by name.</summary>
    public IDictionary<string, ClusterOptions> Clusters { get; } = new Dictionary<string, ClusterOptions>(StringComparer.Ordinal);

    /// <summary>
    /// The largest request body accepted, in bytes; larger ones get 413. Default null: no limit, bodies are
    /// streamed and never held whole (Kestrel's own default of 30 MB suits an application, not a proxy).
    /// </summary>
    public long? MaxRequestBodySize { get; set; }

    /// <summary>How long a graceful shutdown waits for in-flight requests before closing them. Default 10 s.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The zone this proxy runs in (in Kubernetes, its node's <c>topology.kubernetes.io/zone</c>). With it, every cluster
    /// follows topology hints as kube-proxy does (<see cref="BalancerOptions.Zone"/>): when the EndpointSlice controller
    /// hinted every endpoint (a Service with <c>trafficDistribution: PreferClose</c> or topology-aware routing), only
    /// those hinted for this zone take its requests, while any of them is usable. Null (the default) ignores hints.
    /// </summary>
    public string? Zone { get; set; }

    /// <summary>
    /// Whether the client-address fields a request arrives with are believed. Default <c>false</c>, for a proxy that
    /// clients reach directly (as ingress-nginx's <c>use-forwarded-headers: false</c>): the upstream's
    /// <c>X-Forwarded-For</c> is the address the proxy saw alone, <c>X-Forwarded-Proto</c> and <c>X-Forwarded-Host</c>
    /// describe the request the proxy received, and a client's <c>Forwarded</c> and <c>X-Real-IP</c> are dropped, so
    /// no client can make an upstream believe another address. <c>true</c>, behind a load balancer that sets them: the
    /// incoming <c>X-Forwarded-For</c> chain is kept with the address the proxy saw appended, an incoming
    /// <c>X-Forwarded-Proto</c> and <c>X-Forwarded-Host</c> are forwarded in place of the proxy's, and <c>Forwarded</c>
    /// and <c>X-Real-IP</c> pass through.
    /// </summary>
    public bool TrustForwardedHeaders { get; set; }

    /// <summary>The access log (off unless enabled).</summary>
    public AccessLogOptions AccessLog { get; set; } = new();

    /// <summary>
    /// The connection layer under Kestrel for the listeners and the admin endpoint. Default
    /// <see cref="ProxyTransport.Sockets"/>, because an application that embeds the proxy serves its own endpoints on the
    /// same transport; <see cref="ProxyTransport.EventLoop"/> (Linux only) is the ProxyHost's default on Linux.
    /// </summary>
    public ProxyTransport Transport { get; set; }
}

/// <summary>The connection layer the proxy's Kestrel listens with.</summary>
public enum ProxyTransport
{
    /// <summary>Kestrel's own socket transport (System.Net.Sockets).</summary>
    Sockets,

    /// <summary>
    /// An event loop per processor on epoll (Linux only): each connection's receives, sends and the request it carries
    /// run on its loop's thread, and so do the request's plaintext upstream connections. More requests per CPU second
    /// than <see cref="ProxyTransport.Sockets"/>. Every endpoint of the Kestrel server runs on the loops, so code that
    /// blocks there (a synchronous call in an application's own middleware) stalls every connection of its loop.
    /// </summary>
    EventLoop,
}

/// <summary>One address the proxy listens on.</summary>
public sealed class ListenerOptions
{
    /// <summary>The URL to bind, for example <c>http://127.0.0.1:8080</c> or <c>https://0.0.0.0:8443</c>.</summary>
    public string Url { get; set; } = "";

    /// <summary>
    /// The HTTP versions accepted. Default <c>Http1AndHttp2</c>: over TLS, ALPN chooses; without TLS, each connection
    /// is HTTP/1.1 unless it opens with HTTP/2's preface (prior-knowledge h2c, as gRPC clients send it).
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

    /// <summary>HTTP/1.1 and HTTP/2: negotiated by ALPN over TLS; without TLS, HTTP/2 when a connection opens with its preface.</summary>
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
