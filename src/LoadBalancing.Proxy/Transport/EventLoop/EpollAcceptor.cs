using System.Buffers;
using System.Net;
using System.Threading.Channels;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// One loop's listening socket (SO_REUSEPORT: each loop has its own, and the kernel spreads new connections over
/// them). A connection is accepted on the loop that will own it, so it is never handed from thread to thread.
/// Level-triggered, at most <see cref="MaxPerWake"/> accepts per readiness: a burst of connections waits its turn
/// behind the requests of the connections the loop already has.
/// </summary>
internal sealed unsafe class EpollAcceptor(EpollLoop loop, int fd, IPEndPoint? localEndPoint, MemoryPool<byte> pool, ChannelWriter<EpollConnection> accepted) : IEpollHandler
{
    private const int MaxPerWake = 32;

    private ulong _token;
    private bool _closed;

    public void Start() => _token = loop.Register(fd, EpollNative.EpollIn, this);

    public void OnEvents(uint events)
    {
        var address = stackalloc byte[SockAddr.MaxLength];
        for (var i = 0; i < MaxPerWake && !_closed; i++)
        {
            var length = SockAddr.MaxLength;
            var connectionFd = EpollNative.Accept4(fd, address, &length, EpollNative.SockNonBlock | EpollNative.SockCloExec);
            if (connectionFd < 0)
            {
                // EAGAIN: drained. Anything else (EMFILE, a connection reset while queued) is the next readiness's turn.
                return;
            }

            EpollNative.SetInt(connectionFd, EpollNative.IpProtoTcp, EpollNative.TcpNoDelay, 1);
            var connection = new EpollConnection(connectionFd, loop, pool, localEndPoint ?? SockAddr.LocalOf(connectionFd), SockAddr.Read(address, length));
            try
            {
                connection.Start();
            }
            catch (IOException)
            {
                _ = EpollNative.Close(connectionFd);
                continue;
            }

            if (!accepted.TryWrite(connection))
            {
                connection.Abort(new Microsoft.AspNetCore.Connections.ConnectionAbortedException("The listener is unbound."));
            }
        }
    }

    /// <summary>Stops listening; on the loop thread.</summary>
    public void Close()
    {
        if (!_closed)
        {
            _closed = true;
            loop.Unregister(fd, _token);
            _ = EpollNative.Close(fd);
        }
    }
}
