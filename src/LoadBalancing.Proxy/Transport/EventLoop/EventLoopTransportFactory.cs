using System.Net;
using LoadBalancing.Proxy.Upstream;
using Microsoft.AspNetCore.Connections;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// Kestrel's transport on the process's epoll loops (Linux only), for IP end points; Kestrel's own transports keep
/// everything else (Unix sockets, named pipes). Registered after Kestrel's socket transport, it is the one Kestrel
/// tries first.
/// </summary>
internal sealed class EventLoopTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector, IDisposable
{
    // Kestrel's block size. Pinned blocks, so receives and sends pin nothing per call; taken and given back on each
    // loop's own stack first, where the upstream connections' blocks are too (see PinnedBlockPool). 1,024 free
    // blocks at most: 4 MiB.
    private readonly PinnedBlockPool _pool = new(maxRetained: 1024, blockSize: 4096);

    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("The event-loop transport runs on Linux only.");
        }

        var ip = endpoint as IPEndPoint ?? throw new NotSupportedException($"The event-loop transport binds IP end points only, not {endpoint}.");
        return new(EpollListener.Bind(ip, EpollLoopGroup.Loops, _pool));
    }

    public void Dispose() => _pool.Dispose();
}
