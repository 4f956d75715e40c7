using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using LoadBalancing.Proxy.Transport.EventLoop;

namespace LoadBalancing.Proxy.Upstream;

/// <summary>
/// A plaintext upstream connection on the event loop whose thread asked for it (Proxy:Transport = EventLoop): the
/// inbound connection and the upstream one are received, sent and forwarded on one thread, as an nginx or Envoy
/// worker does, with no hand-over to the thread pool between them.
/// </summary>
internal sealed class LoopUpstreamSocket : IUpstreamSocket
{
    // The same back-pressure as UpstreamSocket's.
    private const int MaxUnread = 128 * 1024;
    private const int MaxUnsent = 64 * 1024;

    private readonly EpollSocket _socket;
    private int _disposed;

    private LoopUpstreamSocket(EpollSocket socket) => _socket = socket;

    public PipeReader Input => _socket.Input;

    public PipeWriter Output => _socket.Output;

    public bool ClosedBeforeAnyTlsData => false;

    public bool ResetByPeer => _socket.ResetByPeer;

    /// <summary>Connects on <paramref name="loop"/>, which must be the calling thread's.</summary>
    public static async ValueTask<LoopUpstreamSocket> ConnectAsync(EpollLoop loop, IPEndPoint endPoint, MemoryPool<byte> pool, CancellationToken cancellationToken) =>
        new(await EpollSocket.ConnectAsync(loop, endPoint, pool, MaxUnread, MaxUnsent, cancellationToken).ConfigureAwait(false));

    public ValueTask DisposeAsync() => Interlocked.Exchange(ref _disposed, 1) != 0 ? default : _socket.DisposeAsync();
}
