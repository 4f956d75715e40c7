using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// A Kestrel listener on every event loop: one SO_REUSEPORT socket per loop (rather than one accepting thread dealing
/// connections out), so accepting costs no hand-over between threads and a busy loop never delays another's
/// accepts. Accepted connections reach Kestrel through a channel, already receiving.
/// </summary>
internal sealed class EpollListener : IConnectionListener
{
    private readonly Channel<EpollConnection> _accepted = Channel.CreateUnbounded<EpollConnection>(new UnboundedChannelOptions { SingleReader = true });
    private readonly EpollLoop[] _loops;
    private readonly EpollAcceptor[] _acceptors;
    private Task? _unbinding;

    private EpollListener(IPEndPoint endPoint, EpollLoop[] loops, List<int> fds, MemoryPool<byte> pool)
    {
        EndPoint = endPoint;
        _loops = loops;
        var local = endPoint.Address.Equals(IPAddress.Any) || endPoint.Address.Equals(IPAddress.IPv6Any) ? null : endPoint;
        _acceptors = new EpollAcceptor[loops.Length];
        for (var i = 0; i < loops.Length; i++)
        {
            _acceptors[i] = new EpollAcceptor(loops[i], fds[i], local, pool, _accepted.Writer);
            loops[i].Post(static state => ((EpollAcceptor)state!).Start(), _acceptors[i]);
        }
    }

    public EndPoint EndPoint { get; }

    public static unsafe EpollListener Bind(IPEndPoint endPoint, EpollLoop[] loops, MemoryPool<byte> pool)
    {
        var fds = new List<int>(loops.Length);
        var port = endPoint.Port;
        var address = stackalloc byte[SockAddr.MaxLength];
        var ipv6 = endPoint.AddressFamily == AddressFamily.InterNetworkV6;
        if (port != 0)
        {
            EnsureFree(endPoint, ipv6, address);
        }

        try
        {
            foreach (var _ in loops)
            {
                var fd = OpenSocket(endPoint, ipv6, reusePort: true);
                fds.Add(fd);
                var length = SockAddr.Write(new IPEndPoint(endPoint.Address, port), address);
                if (EpollNative.Bind(fd, address, length) < 0 || EpollNative.Listen(fd, 512) < 0)
                {
                    throw SockAddr.BindError(EpollNative.Errno, endPoint);
                }

                // Port 0: the first socket's port is the one every other loop's socket shares.
                port = SockAddr.LocalOf(fd)?.Port ?? port;
            }
        }
        catch
        {
            foreach (var fd in fds)
            {
                _ = EpollNative.Close(fd);
            }

            throw;
        }

        return new EpollListener(new IPEndPoint(endPoint.Address, port), loops, fds, pool);
    }

    /// <summary>
    /// Throws <see cref="AddressInUseException"/> when something listens on <paramref name="endPoint"/> already, even
    /// with SO_REUSEPORT: the sockets of one group share its connections, so a second proxy of the same user (another
    /// instance, or another listener of this one on the same port) would silently take a share of them instead of
    /// failing as any other server does. A socket without SO_REUSEPORT cannot bind beside a listening one.
    /// </summary>
    private static unsafe void EnsureFree(IPEndPoint endPoint, bool ipv6, byte* address)
    {
        var probe = OpenSocket(endPoint, ipv6, reusePort: false);
        try
        {
            var length = SockAddr.Write(endPoint, address);
            if (EpollNative.Bind(probe, address, length) < 0)
            {
                throw SockAddr.BindError(EpollNative.Errno, endPoint);
            }
        }
        finally
        {
            _ = EpollNative.Close(probe);
        }
    }

    /// <summary>
    /// A non-blocking TCP socket for <paramref name="endPoint"/>'s family with SO_REUSEADDR (a port whose last
    /// connections linger in TIME_WAIT is free), and SO_REUSEPORT when it joins the loops' group.
    /// </summary>
    private static int OpenSocket(IPEndPoint endPoint, bool ipv6, bool reusePort)
    {
        var fd = EpollNative.Socket(ipv6 ? EpollNative.AfInet6 : EpollNative.AfInet, EpollNative.SockStream | EpollNative.SockNonBlock | EpollNative.SockCloExec, 0);
        if (fd < 0)
        {
            throw new IOException($"socket() failed: errno {EpollNative.Errno}.");
        }

        EpollNative.SetInt(fd, EpollNative.SolSocket, EpollNative.SoReuseAddr, 1);
        if (reusePort)
        {
            EpollNative.SetInt(fd, EpollNative.SolSocket, EpollNative.SoReusePort, 1);
        }

        if (ipv6)
        {
            // As Kestrel binds [::]: dual-mode, so IPv4 clients reach it too.
            EpollNative.SetInt(fd, EpollNative.IpProtoIpv6, EpollNative.Ipv6V6Only, endPoint.Address.Equals(IPAddress.IPv6Any) ? 0 : 1);
        }

        return fd;
    }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        var reader = _accepted.Reader;
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (reader.TryRead(out var connection))
            {
                return connection;
            }
        }

        return null;
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => new(_unbinding ??= UnbindOnLoopsAsync());

    private Task UnbindOnLoopsAsync()
    {
        var remaining = _loops.Length;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        for (var i = 0; i < _loops.Length; i++)
        {
            _loops[i].Post(state =>
            {
                ((EpollAcceptor)state!).Close();
                if (Interlocked.Decrement(ref remaining) == 0)
                {
                    // Every socket is closed: no accept can write to the channel any more.
                    _accepted.Writer.TryComplete();
                    done.TrySetResult();
                }
            }, _acceptors[i]);
        }

        return done.Task;
    }

    public async ValueTask DisposeAsync()
    {
        await UnbindAsync().ConfigureAwait(false);

        // Accepted but never taken by Kestrel: nobody else will close them.
        while (_accepted.Reader.TryRead(out var connection))
        {
            connection.Abort(new ConnectionAbortedException("The listener was disposed."));
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
