using System.IO.Pipelines;

namespace LoadBalancing.Proxy.Upstream;

/// <summary>A connection to an upstream as the forwarder uses it: a pipe each way.</summary>
internal interface IUpstreamSocket : IAsyncDisposable
{
    /// <summary>
    /// Bytes from the upstream; completes when it closes, with the socket error if any, except a reset: see
    /// <see cref="ResetByPeer"/>.
    /// </summary>
    PipeReader Input { get; }

    /// <summary>
    /// Whether the upstream reset the connection. A reset completes <see cref="Input"/> as a FIN does, after every byte
    /// that arrived before it: a pipe completed with an error throws at the next read and drops what was still unread,
    /// so an upstream that answers at once and resets the request body it did not read (its close with the body
    /// unread) lost its whole answer. Framed bodies and heads tell a cut-short answer by their framing; a body read
    /// until close asks this.
    /// </summary>
    bool ResetByPeer { get; }

    /// <summary>Bytes for the upstream; completing it passes a FIN on.</summary>
    PipeWriter Output { get; }

    /// <summary>Whether this is a TLS connection on which the upstream never sent application data.</summary>
    bool ClosedBeforeAnyTlsData { get; }
}
