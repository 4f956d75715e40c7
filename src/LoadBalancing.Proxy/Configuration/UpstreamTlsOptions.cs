namespace LoadBalancing.Proxy;

/// <summary>
/// TLS from the proxy to a cluster's endpoints (<c>Clusters:&lt;name&gt;:Tls</c>). The section's presence turns TLS on,
/// even empty (<c>"Tls": { }</c>: the system's trusted roots, the endpoint's host name); a cluster without it speaks
/// plain HTTP. Certificate files are read again when they change, without a restart.
/// </summary>
public sealed class UpstreamTlsOptions
{
    /// <summary>
    /// Whether connections to the cluster use TLS. Default true: the section alone turns TLS on. Set false to switch it
    /// off while keeping the section (for example from an environment variable).
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The name sent as SNI and checked against the endpoints' certificates. Default: the endpoint's host name when its
    /// address is a DNS name; for IP endpoints (Kubernetes pods) set it to the name the certificates are issued for,
    /// or the certificate must carry the endpoint's IP address.
    /// </summary>
    public string? ServerName { get; set; }

    /// <summary>A PEM file of the root certificates to trust, instead of the system's trusted roots. Default none.</summary>
    public string? CaFile { get; set; }

    /// <summary>
    /// A PEM file with the client certificate the proxy presents (mutual TLS), followed by its intermediates, if any
    /// (a Kubernetes TLS Secret's <c>tls.crt</c>). Needs <see cref="ClientKeyFile"/>. Default none.
    /// </summary>
    public string? ClientCertificateFile { get; set; }

    /// <summary>The PEM private key of <see cref="ClientCertificateFile"/> (a TLS Secret's <c>tls.key</c>). Default none.</summary>
    public string? ClientKeyFile { get; set; }

    /// <summary>The oldest TLS version offered. Default <see cref="UpstreamTlsProtocol.Tls12"/>.</summary>
    public UpstreamTlsProtocol MinimumProtocol { get; set; } = UpstreamTlsProtocol.Tls12;

    /// <summary>
    /// Accepts any certificate the endpoints present, unchecked (encryption without authentication). Default false.
    /// Logged as a warning at start and on every reload, and shown in <c>/backends</c> and <c>/config</c>.
    /// </summary>
    public bool SkipValidation { get; set; }
}

/// <summary>The oldest TLS version the proxy offers to upstreams.</summary>
public enum UpstreamTlsProtocol
{
    /// <summary>TLS 1.2 and TLS 1.3.</summary>
    Tls12,

    /// <summary>TLS 1.3 only.</summary>
    Tls13,
}
