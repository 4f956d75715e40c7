using System.IO.Pipelines;

namespace LoadBalancing.Proxy.Upstream;

/// <summary>A connection to an upstream as the forwarder uses it: a pipe each way.</summary>
internal interface IUpstreamSocket : IAsyncDisposable
{
    /// <summary>Bytes from the upstream; completes when it closes (with the socket error, if any).</summary>
    PipeReader Input { get; }

    /// <summary>Bytes for the upstream; completing it passes a FIN on.</summary>
    PipeWriter Output { get; }

    /// <summary>Whether this is a TLS connection on which the upstream never sent application data.</summary>
    bool ClosedBeforeAnyTlsData { get; }
}
