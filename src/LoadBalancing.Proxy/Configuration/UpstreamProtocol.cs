namespace LoadBalancing.Proxy;

/// <summary>The HTTP version a cluster speaks to its endpoints.</summary>
public enum UpstreamProtocol
{
    /// <summary>
    /// HTTP/1.1 on the proxy's own pipelined connections (the default). Inbound HTTP/2 requests are forwarded as
    /// HTTP/1.1; gRPC needs <see cref="Http2"/>.
    /// </summary>
    Http1,

    /// <summary>
    /// HTTP/2 only: prior knowledge (h2c) without TLS, h2 over TLS. Every request — every gRPC call — is balanced on
    /// its own, and many share one connection per endpoint. Required for gRPC.
    /// </summary>
    Http2,

    /// <summary>
    /// HTTP/2 when the endpoint offers it in the TLS handshake (ALPN), else HTTP/1.1; without TLS, the same as
    /// <see cref="Http1"/> (cleartext has no negotiation that does not cost a round trip).
    /// </summary>
    Auto,
}
