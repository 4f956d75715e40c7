namespace LoadBalancing.Proxy;

/// <summary>One cluster: its endpoints, how requests are balanced over them, and how they are forwarded.</summary>
public sealed class ClusterOptions
{
    /// <summary>The balancing algorithm. Default <see cref="LoadBalancingAlgorithm.RoundRobin"/>.</summary>
    public LoadBalancingAlgorithm Algorithm { get; set; } = LoadBalancingAlgorithm.RoundRobin;

    /// <summary>The static endpoints of the cluster.</summary>
    public IList<EndpointOptions> Endpoints { get; } = new List<EndpointOptions>();

    /// <summary>
    /// The Kubernetes Service port whose endpoints feed this cluster instead of <see cref="Endpoints"/>; the host
    /// attaches discovery for it (ProxyHost does, with LoadBalancing.Kubernetes).
    /// </summary>
    public KubernetesServiceOptions? Kubernetes { get; set; }

    /// <summary>What the request key of hash-based algorithms is made from.</summary>
    public HashKeyOptions HashKey { get; set; } = new();

    /// <summary>Session affinity by cookie; null (no <c>SessionAffinity</c> section, the default) balances every request.</summary>
    public SessionAffinityOptions? SessionAffinity { get; set; }

    /// <summary>
    /// A last-resort <c>host:port</c> (for example the Service's ClusterIP) used only when no endpoint is usable.
    /// </summary>
    public string? Fallback { get; set; }

    /// <summary>Whether the client's <c>Host</c> header is sent upstream (default) rather than the endpoint's address.</summary>
    public bool PreserveHost { get; set; } = true;

    /// <summary>TLS to the endpoints; null (no <c>Tls</c> section) for plain HTTP.</summary>
    public UpstreamTlsOptions? Tls { get; set; }

    /// <summary>How many endpoints one request may try (1 disables retries). Default 3, at most 8.</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>
    /// The HTTP version spoken to the endpoints. Default <see cref="UpstreamProtocol.Http1"/>; gRPC services need
    /// <see cref="UpstreamProtocol.Http2"/>. In the clusters the Ingress and Gateway API controllers build from
    /// Services, the Service port's <c>appProtocol</c> chooses it when this is not set.
    /// </summary>
    public UpstreamProtocol? Protocol { get; set; }

    /// <summary>How gRPC calls through this cluster are judged.</summary>
    public GrpcOptions Grpc { get; set; } = new();

    /// <summary>How long a TCP connect to an endpoint may take, the TLS handshake included. Default 2 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long the upstream may take to send the response headers once the request is sent. Default 30 s.</summary>
    public TimeSpan ResponseHeaderTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a request or response body may stall between two reads. Default 60 s.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long an unused upstream connection is kept in the pool. Keep it below the upstream's own keep-alive
    /// timeout so the upstream never closes a connection as the proxy reuses it. Default 50 s.
    /// </summary>
    public TimeSpan PooledConnectionIdleTimeout { get; set; } = TimeSpan.FromSeconds(50);

    /// <summary>The most idle connections kept per endpoint. Default 512.</summary>
    public int MaxIdleConnectionsPerEndpoint { get; set; } = 512;

    /// <summary>
    /// The most requests forwarded to this cluster at once, each counted from its start until its response ends (its
    /// retries included; a WebSocket tunnel while it is open). A request beyond it is answered <c>503</c> at once and
    /// reaches no endpoint, so a slow or failing cluster cannot gather every client's requests and connections. Null
    /// (the default) sets no limit.
    /// </summary>
    public int? MaxConcurrentRequests { get; set; }

    /// <summary>
    /// The most requests forwarded to one endpoint at once (nginx's <c>max_conns</c>, HAProxy's <c>maxconn</c> without
    /// a queue), each counted from its pick until its attempt ends. A pick that lands on a full endpoint goes to another
    /// with room, by weight; with every endpoint full the request is answered <c>503</c> at once. A request whose
    /// session names its endpoint (<see cref="SessionAffinity"/>) goes there whatever its count. Null (the default) sets
    /// no limit.
    /// </summary>
    public int? MaxRequestsPerEndpoint { get; set; }

    /// <summary>The largest upstream response head (status line and headers) accepted. Default 64 KiB.</summary>
    public int MaxResponseHeaderBytes { get; set; } = 64 * 1024;

    /// <summary>Least-request options.</summary>
    public LeastRequestOptions LeastRequest { get; set; } = new();

    /// <summary>Peak-EWMA options.</summary>
    public PeakEwmaOptions PeakEwma { get; set; } = new();

    /// <summary>Maglev options.</summary>
    public MaglevOptions Maglev { get; set; } = new();

    /// <summary>Ring-hash options.</summary>
    public RingHashOptions RingHash { get; set; } = new();

    /// <summary>Bounded loads for hash algorithms (for example 1.25); null leaves it off.</summary>
    public double? HashBalanceFactor { get; set; }

    /// <summary>Outlier detection: consecutive failures eject an endpoint for a while.</summary>
    public OutlierDetectionOptions OutlierDetection { get; set; } = new();

    /// <summary>Slow start for new endpoints (round-robin and least-request).</summary>
    public SlowStartOptions SlowStart { get; set; } = new();

    /// <summary>The active health check; <c>null</c> (default) probes nothing.</summary>
    public HealthCheckOptions? HealthCheck { get; set; }

    /// <summary>Below this share of healthy endpoints, ejections are ignored (Envoy's panic threshold). Default 50.</summary>
    public double PanicThresholdPercent { get; set; } = 50;

    /// <summary>
    /// Whether /metrics (and the meter) carry this cluster's per-endpoint series. Default
    /// <see cref="EndpointMetricsMode.Auto"/>: on while the cluster has at most <see cref="AutoEndpointMetricsLimit"/> endpoints.
    /// </summary>
    public EndpointMetricsMode EndpointMetrics { get; set; } = EndpointMetricsMode.Auto;

    /// <summary>The most endpoints a cluster may have for <see cref="EndpointMetricsMode.Auto"/> to export their series (50).</summary>
    public const int AutoEndpointMetricsLimit = 50;
}

/// <summary>Whether a cluster's per-endpoint metric series are exported.</summary>
public enum EndpointMetricsMode
{
    /// <summary>Exported while the cluster has at most <see cref="ClusterOptions.AutoEndpointMetricsLimit"/> endpoints.</summary>
    Auto,

    /// <summary>Always exported, however many endpoints the cluster has.</summary>
    On,

    /// <summary>Never exported.</summary>
    Off,
}

/// <summary>One static endpoint.</summary>
public sealed class EndpointOptions
{
    /// <summary>The endpoint as <c>ip:port</c>, <c>[ipv6]:port</c> or <c>host:port</c>.</summary>
    public string Address { get; set; } = "";

    /// <summary>The relative weight, 1 to 1,000,000. Default 1.</summary>
    public int Weight { get; set; } = 1;

    /// <summary>The endpoint's zone, if known.</summary>
    public string? Zone { get; set; }
}

/// <summary>Where the request key of hash-based algorithms comes from.</summary>
public enum HashKeySource
{
    /// <summary>No key: hash algorithms pick at random.</summary>
    None,

    /// <summary>A request header, named by <see cref="HashKeyOptions.Name"/>.</summary>
    Header,

    /// <summary>A cookie, named by <see cref="HashKeyOptions.Name"/>.</summary>
    Cookie,

    /// <summary>The client's IP address.</summary>
    ClientIp,

    /// <summary>The request path.</summary>
    Path,

    /// <summary>A query-string parameter, named by <see cref="HashKeyOptions.Name"/>.</summary>
    QueryParameter,
}

/// <summary>The request key policy of a cluster. A request without the key is balanced at random, as Envoy does.</summary>
public sealed class HashKeyOptions
{
    /// <summary>Where the key comes from. Default <see cref="HashKeySource.None"/>.</summary>
    public HashKeySource Source { get; set; } = HashKeySource.None;

    /// <summary>The header, cookie or query parameter name, for the sources that need one.</summary>
    public string? Name { get; set; }
}

/// <summary>A Kubernetes Service port as a cluster's endpoint source.</summary>
public sealed class KubernetesServiceOptions
{
    /// <summary>The Service's namespace. Default <c>default</c>.</summary>
    public string Namespace { get; set; } = "default";

    /// <summary>The Service's name.</summary>
    public string Service { get; set; } = "";

    /// <summary>The port name or number in its EndpointSlices; empty for the Service's only port.</summary>
    public string? Port { get; set; }
}
