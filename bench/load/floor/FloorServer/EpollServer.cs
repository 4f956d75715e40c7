using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace FloorServer;

/// <summary>
/// A single-threaded event loop on Linux's epoll: the listener is accepted from and every connection read and
/// written with plain system calls, level-triggered, one receive and one send per readiness.
/// </summary>
internal static unsafe partial class EpollServer
{
    private const uint EpollIn = 1;
    private const int EpollCtlAdd = 1;
    private const int SockNonBlock = 0x800;
    private const int MsgNoSignal = 0x4000;
    private const int IpProtoTcp = 6;
    private const int TcpNoDelay = 1;
    private const int EAgain = 11;

    public static void Run(int port)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        listener.Listen(1024);
        listener.Blocking = false;
        var listenFd = (int)listener.Handle;
        var epoll = Check(EpollCreate1(0));
        var add = new EpollEvent { Events = EpollIn, Data = (ulong)listenFd };
        Check(EpollCtl(epoll, EpollCtlAdd, listenFd, &add));

        var events = new EpollEvent[256];
        var receive = new byte[16 * 1024];
        var send = new byte[64 * 1024];
        var matched = new Dictionary<int, int>();
        fixed (EpollEvent* ready = events)
        fixed (byte* input = receive)
        fixed (byte* output = send)
        {
            while (true)
            {
                var count = EpollWait(epoll, ready, events.Length, -1);
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

                    var received = Recv(fd, input, receive.Length, 0);
                    if (received < 0 && Marshal.GetLastPInvokeError() == EAgain)
                    {
                        continue;
                    }

                    if (received <= 0)
                    {
                        Close(fd);
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
                    if (length > 0 && Send(fd, output, length, MsgNoSignal) != length)
                    {
                        Close(fd);
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
            var fd = Accept4(listenFd, null, null, SockNonBlock);
            if (fd < 0)
            {
                return;
            }

            var one = 1;
            _ = SetSockOpt(fd, IpProtoTcp, TcpNoDelay, &one, sizeof(int));
            var add = new EpollEvent { Events = EpollIn, Data = (ulong)fd };
            Check(EpollCtl(epoll, EpollCtlAdd, fd, &add));
            matched[fd] = 0;
        }
    }

    private static int Check(int result) =>
        result >= 0 ? result : throw new IOException($"system call failed: errno {Marshal.GetLastPInvokeError()}");

    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    private struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    private static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int EpollCtl(int epoll, int op, int fd, EpollEvent* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    private static partial int EpollWait(int epoll, EpollEvent* events, int max, int timeout);

    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    private static partial int Accept4(int fd, void* address, void* length, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static partial nint Recv(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static partial nint Send(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static partial int SetSockOpt(int fd, int level, int name, void* value, int length);
}
