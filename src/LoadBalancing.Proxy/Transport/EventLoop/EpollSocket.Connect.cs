using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace LoadBalancing.Proxy.Transport.EventLoop;

internal sealed partial class EpollSocket
{
    private readonly WritableSignal _writable = new();
    private bool _connecting;

    /// <summary>
    /// Connects to <paramref name="endPoint"/> on <paramref name="loop"/> (the calling thread's, so the connection and
    /// the request that wants it share the thread); throws <see cref="SocketException"/> as Socket.ConnectAsync would,
    /// or <see cref="OperationCanceledException"/>.
    /// </summary>
    public static async ValueTask<EpollSocket> ConnectAsync(EpollLoop loop, IPEndPoint endPoint, MemoryPool<byte> pool, int maxUnread, int maxUnsent, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var socket = Begin(loop, endPoint, pool, maxUnread, maxUnsent, out var errno);
        if (errno != 0)
        {
            socket.CloseSocket(null);
            throw new SocketException((int)ToSocketError(errno));
        }

        if (socket._connecting)
        {
            bool completed;
            using (cancellationToken.UnsafeRegister(static state => ((EpollSocket)state!).CancelConnect(), socket))
            {
                completed = await socket._writable.WaitAsync().ConfigureAwait(false);
            }

            socket._connecting = false;
            errno = completed ? socket.PendingError() : 0;
            if (!completed || errno != 0)
            {
                socket.CloseSocket(null);
                cancellationToken.ThrowIfCancellationRequested();
                throw new SocketException((int)(completed ? ToSocketError(errno) : SocketError.OperationAborted));
            }
        }

        socket.Start();
        return socket;
    }

    private static unsafe EpollSocket Begin(EpollLoop loop, IPEndPoint endPoint, MemoryPool<byte> pool, int maxUnread, int maxUnsent, out int errno)
    {
        var fd = EpollNative.Socket(endPoint.AddressFamily == AddressFamily.InterNetworkV6 ? EpollNative.AfInet6 : EpollNative.AfInet,
            EpollNative.SockStream | EpollNative.SockNonBlock | EpollNative.SockCloExec, 0);
        if (fd < 0)
        {
            throw new SocketException((int)ToSocketError(EpollNative.Errno));
        }

        EpollNative.SetInt(fd, EpollNative.IpProtoTcp, EpollNative.TcpNoDelay, 1);
        var socket = new EpollSocket(fd, loop, pool, maxUnread, maxUnsent, upstream: true, receiveEnded: null);
        var address = stackalloc byte[SockAddr.MaxLength];
        var length = SockAddr.Write(endPoint, address);
        errno = EpollNative.Connect(fd, address, length) == 0 ? 0 : EpollNative.Errno;
        if (errno == EpollNative.EInProgress)
        {
            errno = 0;
            socket._connecting = true;
        }

        if (errno == 0)
        {
            socket.Register();
        }

        return socket;
    }

    private void CancelConnect()
    {
        _loop.Post(static state =>
        {
            var socket = (EpollSocket)state!;
            if (socket._connecting)
            {
                socket._writable.Signal(false);
            }
        }, this);
    }

    private unsafe int PendingError()
    {
        int error;
        var length = sizeof(int);
        return EpollNative.GetSockOpt(_fd, EpollNative.SolSocket, EpollNative.SoError, &error, &length) == 0 ? error : EpollNative.Errno;
    }

    private static SocketError ToSocketError(int errno) => errno switch
    {
        111 => SocketError.ConnectionRefused,
        110 => SocketError.TimedOut,
        113 => SocketError.HostUnreachable,
        101 => SocketError.NetworkUnreachable,
        EpollNative.EAddrNotAvail => SocketError.AddressNotAvailable,
        EpollNative.EConnReset => SocketError.ConnectionReset,
        _ => SocketError.SocketError,
    };
}
