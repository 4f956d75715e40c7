using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace FloorServer;

/// <summary>
/// A single-threaded event loop on Linux's epoll: the listener is accepted from and every connection read and
/// written with plain system calls, level-triggered, one receive and one send per readiness.
/// </summary>
internal static unsafe class EpollServer
{
    public static void Run(int port)
    {
        using var listener = Native.ListenOnLoopback(port);
        var listenFd = (int)listener.Handle;
        var epoll = Native.Check(Native.EpollCreate1(0));
        Native.Add(epoll, listenFd);

        var events = new Native.EpollEvent[256];
        var receive = new byte[16 * 1024];
        var send = new byte[64 * 1024];
        var matched = new Dictionary<int, int>();
        fixed (Native.EpollEvent* ready = events)
        fixed (byte* input = receive)
        fixed (byte* output = send)
        {
            while (true)
            {
                var count = Native.EpollWait(epoll, ready, events.Length, -1);
                if (count < 0)
                {
                    continue; // EINTR
                }

                for (var i = 0; i < count; i++)
                {
                    var fd = (int)ready[i].Data;
                    if (fd == listenFd)
                    {
                        AcceptAll(epoll, listenFd, matched);
                        continue;
                    }

                    var received = Native.Recv(fd, input, receive.Length, 0);
                    if (received < 0 && Marshal.GetLastPInvokeError() == Native.EAgain)
                    {
                        continue;
                    }

                    if (received <= 0)
                    {
                        Native.Close(fd);
                        matched.Remove(fd);
                        continue;
                    }

                    var state = matched[fd];
                    var ends = Responses.CountRequestEnds(new ReadOnlySpan<byte>(input, (int)received), ref state);
                    matched[fd] = state;
                    var length = Math.Min(ends, send.Length / Responses.Whole.Length) * Responses.Whole.Length;
                    for (var at = 0; at < length; at += Responses.Whole.Length)
                    {
                        Responses.Whole.CopyTo(new Span<byte>(output + at, Responses.Whole.Length));
                    }

                    // A short send closes the connection: a floor measurement never fills a socket buffer with 13-byte answers.
                    if (length > 0 && Native.Send(fd, output, length, Native.MsgNoSignal) != length)
                    {
                        Native.Close(fd);
                        matched.Remove(fd);
                    }
                }
            }
        }
    }

    private static void AcceptAll(int epoll, int listenFd, Dictionary<int, int> matched)
    {
        while (true)
        {
            var fd = Native.Accept4(listenFd, null, null, Native.SockNonBlock);
            if (fd < 0)
            {
                return;
            }

            Native.NoDelay(fd);
            Native.Add(epoll, fd);
            matched[fd] = 0;
        }
    }
}
