using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace FloorServer;

/// <summary>
/// The least a proxy can do on an event loop of its own: one thread, one epoll set; each request head from a client
/// is sent as it is to the next upstream (round-robin) over a pooled keep-alive connection, and the response is sent
/// back once its head and Content-Length body are in. No header rewriting, no request bodies, one request in flight
/// per client connection — a floor to set against real proxies, not a proxy.
/// </summary>
internal sealed unsafe class EpollProxy
{
    private static ReadOnlySpan<byte> HeadEnd => "\r\n\r\n"u8;

    private static ReadOnlySpan<byte> ContentLengthLine => "\r\ncontent-length:"u8;

    private readonly IPEndPoint[] _upstreams;
    private readonly Stack<Connection>[] _idle;
    private readonly Dictionary<int, Connection> _connections = [];
    private readonly int _epoll;
    private int _next;

    private EpollProxy(IPEndPoint[] upstreams, int epoll)
    {
        _upstreams = upstreams;
        _idle = [.. upstreams.Select(_ => new Stack<Connection>())];
        _epoll = epoll;
    }

    public static void Run(int port, IPEndPoint[] upstreams)
    {
        using var listener = Native.ListenOnLoopback(port);
        var listenFd = (int)listener.Handle;
        var proxy = new EpollProxy(upstreams, Native.Check(Native.EpollCreate1(0)));
        Native.Add(proxy._epoll, listenFd);

        var events = new Native.EpollEvent[256];
        fixed (Native.EpollEvent* ready = events)
        {
            while (true)
            {
                var count = Native.EpollWait(proxy._epoll, ready, events.Length, -1);
                for (var i = 0; i < count; i++)
                {
                    var fd = (int)ready[i].Data;
                    if (fd == listenFd)
                    {
                        proxy.AcceptAll(listenFd);
                    }
                    else if (proxy._connections.TryGetValue(fd, out var connection))
                    {
                        proxy.Readable(connection);
                    }
                }
            }
        }
    }

    private void AcceptAll(int listenFd)
    {
        int client;
        while ((client = Native.Accept4(listenFd, null, null, Native.SockNonBlock)) >= 0)
        {
            Native.NoDelay(client);
            Native.Add(_epoll, client);
            _connections[client] = new Connection(client, -1);
        }
    }

    private void Readable(Connection connection)
    {
        var ok = Receive(connection) && (connection.Upstream < 0
            ? connection.Peer is not null || Forward(connection) // a request in flight: the next waits for its response
            : Relay(connection));
        if (!ok)
        {
            Drop(connection);
        }
    }

    /// <summary>False when the peer closed or the buffer is full.</summary>
    private static bool Receive(Connection c)
    {
        fixed (byte* buffer = c.Buffer)
        {
            var received = Native.Recv(c.Fd, buffer + c.Length, c.Buffer.Length - c.Length, 0);
            if (received < 0 && Marshal.GetLastPInvokeError() == Native.EAgain)
            {
                return true;
            }

            if (received <= 0 || c.Length + received == c.Buffer.Length)
            {
                return false;
            }

            c.Length += (int)received;
            return true;
        }
    }

    /// <summary>Sends the client's first complete request head upstream; true when there is none yet or it went.</summary>
    private bool Forward(Connection client)
    {
        var head = client.Buffer.AsSpan(0, client.Length).IndexOf(HeadEnd);
        if (head < 0)
        {
            return true;
        }

        var length = head + HeadEnd.Length;
        var upstream = TakeUpstream(_next++ % _upstreams.Length);
        if (!SendAll(upstream.Fd, client.Buffer, length))
        {
            Drop(upstream);
            return false;
        }

        Consume(client, length);
        client.Peer = upstream;
        upstream.Peer = client;
        return true;
    }

    /// <summary>A pooled connection to the upstream, skipping any closed while idle, or a new one.</summary>
    private Connection TakeUpstream(int index)
    {
        while (_idle[index].TryPop(out var pooled))
        {
            if (!pooled.Closed)
            {
                return pooled;
            }
        }

        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(_upstreams[index]);
        socket.Blocking = false;
        var upstream = new Connection((int)socket.Handle, index) { Socket = socket };
        _connections[upstream.Fd] = upstream;
        Native.Add(_epoll, upstream.Fd);
        return upstream;
    }

    /// <summary>Sends a complete response back to its client, pools the upstream connection, and forwards the client's next request.</summary>
    private bool Relay(Connection upstream)
    {
        var data = upstream.Buffer.AsSpan(0, upstream.Length);
        var head = data.IndexOf(HeadEnd);
        if (head < 0)
        {
            return true;
        }

        var total = head + HeadEnd.Length + ContentLength(data[..head]);
        if (upstream.Length < total)
        {
            return true;
        }

        if (upstream.Peer is not { } client)
        {
            return false; // a response nobody asked for
        }

        if (!SendAll(client.Fd, upstream.Buffer, total))
        {
            Drop(client);
            return false;
        }

        Consume(upstream, total);
        upstream.Peer = null;
        client.Peer = null;
        _idle[upstream.Upstream].Push(upstream);
        if (!Forward(client))
        {
            Drop(client);
        }

        return true;
    }

    private static int ContentLength(ReadOnlySpan<byte> head)
    {
        var at = -1;
        for (var i = 0; i + ContentLengthLine.Length <= head.Length && at < 0; i++)
        {
            if (Ascii.EqualsIgnoreCase(head.Slice(i, ContentLengthLine.Length), ContentLengthLine))
            {
                at = i + ContentLengthLine.Length;
            }
        }

        if (at < 0)
        {
            return 0;
        }

        var value = 0;
        foreach (var b in head[at..])
        {
            if (b is >= (byte)'0' and <= (byte)'9')
            {
                value = (value * 10) + (b - '0');
            }
            else if (b != ' ')
            {
                break;
            }
        }

        return value;
    }

    private static bool SendAll(int fd, byte[] buffer, int length)
    {
        fixed (byte* data = buffer)
        {
            // A floor measurement never fills a socket buffer with small heads; a short send ends the connection.
            return Native.Send(fd, data, length, Native.MsgNoSignal) == length;
        }
    }

    private static void Consume(Connection c, int length)
    {
        c.Buffer.AsSpan(length, c.Length - length).CopyTo(c.Buffer);
        c.Length -= length;
    }

    /// <summary>Closes a connection, and the other side of the exchange it is in.</summary>
    private void Drop(Connection c)
    {
        if (!_connections.Remove(c.Fd))
        {
            return;
        }

        c.Closed = true;
        if (c.Socket is not null)
        {
            c.Socket.Dispose();
        }
        else
        {
            _ = Native.Close(c.Fd);
        }

        if (c.Peer is { } peer)
        {
            c.Peer = null;
            peer.Peer = null;
            Drop(peer);
        }
    }

    private sealed class Connection(int fd, int upstream)
    {
        public readonly int Fd = fd;

        /// <summary>The upstream's index for an upstream connection; -1 for a client's.</summary>
        public readonly int Upstream = upstream;
        public readonly byte[] Buffer = new byte[16 * 1024];
        public int Length;

        /// <summary>The other side of the exchange in flight, if any.</summary>
        public Connection? Peer;

        /// <summary>Keeps an upstream connection's socket (and so its descriptor) alive.</summary>
        public Socket? Socket;

        /// <summary>Closed: an idle upstream connection stays in its pool until it is popped and skipped.</summary>
        public bool Closed;
    }
}
