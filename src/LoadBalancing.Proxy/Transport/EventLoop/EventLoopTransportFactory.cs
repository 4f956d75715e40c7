using System.Buffers;
using System.Net;
using Microsoft.AspNetCore.Connections;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// Kestrel's transport on the process's epoll loops (Linux only), for IP end points; Kestrel's own transports keep
/// everything else (Unix sockets, named pipes). Registered after Kestrel's socket transport, it is the one Kestrel
/// tries first.
/// </summary>
internal sealed class EventLoopTransportFactory(IMemoryPoolFactory<byte>? pools = null) : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    // Kestrel's pinned-block pool: receives and sends pin its blocks for free. Without the factory (never, under
    // Kestrel) the shared pool works, pinning each buffer as it goes.
    private readonly MemoryPool<byte> _pool = pools?.Create(new MemoryPoolOptions { Owner = "EventLoopTransport" }) ?? MemoryPool<byte>.Shared;

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
}
