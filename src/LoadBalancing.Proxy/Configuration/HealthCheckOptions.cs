namespace LoadBalancing.Proxy;

/// <summary>
/// A cluster's active health check (<c>Clusters:&lt;name&gt;:HealthCheck</c>): each endpoint is probed on a timer, off
/// the request path, and an endpoint that fails <see cref="UnhealthyThreshold"/> probes in a row takes no traffic until
/// it passes <see cref="HealthyThreshold"/> in a row. Present in the configuration means on:
/// <c>"HealthCheck": { "Path": "/healthz" }</c> probes <c>GET /healthz</c> every 10 s.
/// </summary>
public sealed class HealthCheckOptions
{
    /// <summary>The default <see cref="ExpectedStatuses"/>: 200 to 399.</summary>
    public const string DefaultExpectedStatuses = "200-399";

    /// <summary>Whether the check runs. Default <c>true</c> (the section's presence turns it on); <c>false</c> keeps the section but stops probing.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How an endpoint is probed. Default <see cref="HealthCheckProtocol.Http"/>.</summary>
    public HealthCheckProtocol Protocol { get; set; } = HealthCheckProtocol.Http;

    /// <summary>The path of the HTTP probe's <c>GET</c>. Default <c>/</c>. HTTP only.</summary>
    public string? Path { get; set; }

    /// <summary>The <c>Host</c> header (HTTP) or <c>:authority</c> (gRPC) of the probe. Default the endpoint's address and port.</summary>
    public string? Host { get; set; }

    /// <summary>The gRPC service asked about (<c>HealthCheckRequest.service</c>). Default empty: the server as a whole. gRPC only.</summary>
    public string? ServiceName { get; set; }

    /// <summary>The time between two probes of one endpoint. Default 10 s.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How much the waits vary, so that the probes of many endpoints do not fire together: each wait is drawn from
    /// Interval ± Jitter/2, and an endpoint's first probe waits a random part of Jitter. Default 10 % of <see cref="Interval"/>.
    /// </summary>
    public TimeSpan? Jitter { get; set; }

    /// <summary>How long one probe may take, connect included. Default 2 s.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Consecutive passes that return an unhealthy endpoint to service. Default 2.</summary>
    public int HealthyThreshold { get; set; } = 2;

    /// <summary>Consecutive failures that take a healthy endpoint out of service. Default 3.</summary>
    public int UnhealthyThreshold { get; set; } = 3;

    /// <summary>The HTTP statuses that pass, as codes and ranges: <c>200-299,404</c>. Default <c>200-399</c>. HTTP only.</summary>
    public string? ExpectedStatuses { get; set; }

    /// <summary>The port probed instead of the endpoint's own (a separate health or admin port). Default the endpoint's port.</summary>
    public int? Port { get; set; }

    /// <summary>
    /// Whether an endpoint takes traffic before its first probe. Default <see cref="HealthCheckInitialState.Healthy"/>.
    /// </summary>
    public HealthCheckInitialState InitialState { get; set; } = HealthCheckInitialState.Healthy;

    /// <summary>
    /// Whether HTTP and gRPC probes go over the cluster's upstream TLS (its <c>Tls</c> section: server name, CA, client
    /// certificate). Default: as the cluster's requests do. <c>false</c> probes in plaintext (a plain health port, with
    /// <see cref="Port"/>); <c>true</c> needs the cluster's <c>Tls</c> section. TCP probes only connect.
    /// </summary>
    public bool? UseTls { get; set; }
}

/// <summary>How an active health check probes an endpoint.</summary>
public enum HealthCheckProtocol
{
    /// <summary><c>GET</c> the path over HTTP/1.1 on a new connection (over TLS when the cluster has it); passes on an expected status.</summary>
    Http,

    /// <summary><c>grpc.health.v1.Health/Check</c> over HTTP/2 (h2c, or h2 over the cluster's TLS); passes on <c>SERVING</c> with grpc-status 0.</summary>
    Grpc,

    /// <summary>Opens a TCP connection and closes it; passes when the connect succeeds.</summary>
    Tcp,
}

/// <summary>The active health of an endpoint before its first probe.</summary>
public enum HealthCheckInitialState
{
    /// <summary>A new endpoint takes traffic at once; failing probes take it out.</summary>
    Healthy,

    /// <summary>A new endpoint takes no traffic until its first probe passes (panic mode aside).</summary>
    Unhealthy,
}
