using System.IO.Pipelines;

namespace LoadBalancing.Proxy.Upstream;

/// <summary>One keep-alive HTTP/1.1 connection to an endpoint, read and written through pipes.</summary>
internal sealed class UpstreamConnection : IAsyncDisposable
{
    private readonly IUpstreamSocket _socket;
    private int _disposed;

    public UpstreamConnection(IUpstreamSocket socket, UpstreamPool pool, Transport.EventLoop.EpollLoop? loop = null)
    {
        _socket = socket;
        Pool = pool;
        Loop = loop;
    }

    /// <summary>The event loop the connection lives on, or null for a connection on System.Net.Sockets.</summary>
    public Transport.EventLoop.EpollLoop? Loop { get; }

    public UpstreamPool Pool { get; }

    public PipeReader Input => _socket.Input;

    public PipeWriter Output => _socket.Output;

    /// <inheritdoc cref="IUpstreamSocket.ResetByPeer"/>
    public bool ResetByPeer => _socket.ResetByPeer;

    /// <summary>
    /// A TLS connection on which the upstream never sent application data: when it closes so, the server refused the
    /// session after the handshake (TLS 1.3 checks client certificates then). Read on the failure path only.
    /// </summary>
    public bool ClosedBeforeAnyTlsData => _socket.ClosedBeforeAnyTlsData;

    /// <summary>When the connection went back into the pool (<see cref="TimeProvider.GetTimestamp"/>).</summary>
    public long IdleSince { get; set; }

    /// <summary>
    /// Whether a pooled connection can carry another request: the upstream has neither closed it nor sent
    /// anything unasked. The socket is read in the background, so a FIN or a reset already shows here.
    /// </summary>
    public bool IsClean()
    {
        ReadResult result;
        try
        {
            if (!Input.TryRead(out result))
            {
                return true;
            }
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException or InvalidOperationException or IOException)
        {
            return false; // the receive failed (reset; over TLS an IOException): the pipe hands its error to the reader
        }

        var clean = result.Buffer.IsEmpty && !result.IsCompleted && !result.IsCanceled;
        Input.AdvanceTo(result.Buffer.Start);
        return clean;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Pool.ConnectionClosed();
        await _socket.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Closes the connection without waiting (for paths that cannot await).</summary>
    public void Close() => _ = DisposeAsync().AsTask();
}
