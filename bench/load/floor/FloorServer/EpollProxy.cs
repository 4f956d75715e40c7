using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace FloorServer;

/// <summary>
/// The least a proxy can do on an event loop of its own: one thread, one epoll set; each request head from a client
/// is sent as it is to the next upstream (round-robin) over a pooled keep-alive connection, and the response is sent
/// back once its head and Content-Length body are in. No header rewriting, no request bodies, one request in flight
/// per client connection — a floor to set against real proxies, not a proxy.
/// </summary>
internal static unsafe class EpollProxy
{
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

    public static void Run(int port, IPEndPoint[] upstreams)
    {
        using var listener = Native.ListenOnLoopback(port);
        var listenFd = (int)listener.Handle;
        var epoll = Native.Check(Native.EpollCreate1(0));
        Native.Add(epoll, listenFd);

        var connections = new Dictionary<int, Connection>();
        var idle = upstreams.Select(_ => new Stack<Connection>()).ToArray();
        var next = 0;
        var events = new Native.EpollEvent[256];
        fixed (Native.EpollEvent* ready = events)
        {
            while (true)
            {
                var count = Native.EpollWait(epoll, ready, events.Length, -1);
                for (var i = 0; i < count; i++)
                {
                    var fd = (int)ready[i].Data;
                    if (fd == listenFd)
                    {
                        int client;
                        while ((client = Native.Accept4(listenFd, null, null, Native.SockNonBlock)) >= 0)
                        {
                            Native.NoDelay(client);
                            Native.Add(epoll, client);
                            connections[client] = new Connection(client, -1);
                        }

                        continue;
                    }

                    if (!connections.TryGetValue(fd, out var connection))
                    {
                        continue;
                    }

                    if (!Receive(connection))
                    {
                        Drop(connection, connections, idle);
                        continue;
                    }

                    var ok = connection.Upstream < 0
                        ? connection.Peer is not null || Forward(connection, epoll, connections, idle, upstreams, ref next)
                        : Relay(connection, connections, idle, epoll, upstreams, ref next);
                    if (!ok)
                    {
                        Drop(connection, connections, idle);
                    }
                }
            }
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
    private static bool Forward(Connection client, int epoll, Dictionary<int, Connection> connections, Stack<Connection>[] idle, IPEndPoint[] upstreams, ref int next)
    {
        var head = client.Buffer.AsSpan(0, client.Length).IndexOf("\r\n\r\n"u8);
        if (head < 0)
        {
            return true;
        }

        var length = head + 4;
        var index = next++ % upstreams.Length;
        Connection? upstream;
        while (idle[index].TryPop(out upstream) && upstream.Closed)
        {
        }

        if (upstream is null)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            socket.Connect(upstreams[index]);
            socket.Blocking = false;
            upstream = new Connection((int)socket.Handle, index) { Socket = socket };
            connections[upstream.Fd] = upstream;
            Native.Add(epoll, upstream.Fd);
        }

        if (!SendAll(upstream.Fd, client.Buffer, length))
        {
            _ = Drop(upstream, connections, idle);
            return false;
        }

        Consume(client, length);
        client.Peer = upstream;
        upstream.Peer = client;
        return true;
    }

    /// <summary>Sends a complete response back to its client and pools the upstream connection.</summary>
    private static bool Relay(Connection upstream, Dictionary<int, Connection> connections, Stack<Connection>[] idle, int epoll, IPEndPoint[] upstreams, ref int next)
    {
        var data = upstream.Buffer.AsSpan(0, upstream.Length);
        var head = data.IndexOf("\r\n\r\n"u8);
        if (head < 0)
        {
            return true;
        }

        var total = head + 4 + ContentLength(data[..head]);
        if (upstream.Length < total)
        {
            return true;
        }

        var client = upstream.Peer;
        if (client is null)
        {
            return false;
        }

        if (!SendAll(client.Fd, upstream.Buffer, total))
        {
            Drop(client, connections, idle);
            return false;
        }

        Consume(upstream, total);
        upstream.Peer = null;
        client.Peer = null;
        idle[upstream.Upstream].Push(upstream);
        if (!Forward(client, epoll, connections, idle, upstreams, ref next))
        {
            _ = Drop(client, connections, idle);
        }

        return true;
    }

    private static int ContentLength(ReadOnlySpan<byte> head)
    {
        var at = IndexOfIgnoreCase(head, "\r\ncontent-length:"u8);
        if (at < 0)
        {
            return 0;
        }

        var value = 0;
        foreach (var b in head[(at + 17)..])
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

    private static int IndexOfIgnoreCase(ReadOnlySpan<byte> text, ReadOnlySpan<byte> lowerCase)
    {
        for (var i = 0; i + lowerCase.Length <= text.Length; i++)
        {
            var j = 0;
            while (j < lowerCase.Length && (text[i + j] | 0x20) == (lowerCase[j] | 0x20))
            {
                j++;
            }

            if (j == lowerCase.Length)
            {
                return i;
            }
        }

        return -1;
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

    /// <summary>Closes a connection (and the exchange it is in); always false, for the caller's convenience.</summary>
    private static bool Drop(Connection c, Dictionary<int, Connection> connections, Stack<Connection>[] idle)
    {
        if (!connections.Remove(c.Fd))
        {
            return false;
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
            peer.Peer = null;
            _ = Drop(peer, connections, idle);
        }

        return false;
    }
}
