namespace LoadBalancing.Proxy.Upstream.Tls;

/// <summary>
/// A TLS handshake with an upstream failed, or its certificate was refused: a connect failure, retried on another
/// endpoint like any other. An <see cref="IOException"/> so that the connect path's handlers catch it.
/// </summary>
internal sealed class UpstreamTlsException : IOException
{
    public const string Untrusted = "tls_untrusted";
    public const string NameMismatch = "tls_name_mismatch";
    public const string Expired = "tls_expired";
    public const string Handshake = "tls_handshake";

    /// <summary>The <c>lastError.kind</c> of a TLS connection the upstream closed before sending anything (not a connect failure).</summary>
    public const string Rejected = "tls_rejected";

    public const string RejectedMessage =
        "the upstream closed the TLS connection right after the handshake, before answering; a TLS 1.3 server refuses a missing or untrusted client certificate this way (see Tls:ClientCertificateFile)";

    public UpstreamTlsException(string kind, string message, Exception? inner = null, bool timedOut = false)
        : base(message, inner)
    {
        Kind = kind;
        TimedOut = timedOut;
    }

    /// <summary>What failed, as <c>/backends</c> shows it in <c>lastError.kind</c>: <c>tls_untrusted</c>, <c>tls_name_mismatch</c>, <c>tls_expired</c>, <c>tls_handshake</c>.</summary>
    public string Kind { get; }

    /// <summary>The connect timeout passed during the handshake.</summary>
    public bool TimedOut { get; }
}
