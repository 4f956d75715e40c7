using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace FloorServer;

/// <summary>The Linux system calls the epoll floor servers make.</summary>
internal static unsafe partial class Native
{
    public const uint EpollIn = 1;
    public const int EpollCtlAdd = 1;
    public const int SockNonBlock = 0x800;
    public const int MsgNoSignal = 0x4000;
    public const int IpProtoTcp = 6;
    public const int TcpNoDelay = 1;
    public const int EAgain = 11;

    public static int Check(int result) =>
        result >= 0 ? result : throw new IOException($"system call failed: errno {Marshal.GetLastPInvokeError()}");

    /// <summary>A non-blocking listener on 127.0.0.1; its descriptor is accepted from with <see cref="Accept4"/>.</summary>
    public static Socket ListenOnLoopback(int port)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        listener.Listen(1024);
        listener.Blocking = false;
        return listener;
    }

    /// <summary>Watches a descriptor for reads (level-triggered).</summary>
    public static void Add(int epoll, int fd)
    {
        var add = new EpollEvent { Events = EpollIn, Data = (ulong)fd };
        _ = Check(EpollCtl(epoll, EpollCtlAdd, fd, &add));
    }

    public static void NoDelay(int fd)
    {
        var one = 1;
        _ = SetSockOpt(fd, IpProtoTcp, TcpNoDelay, &one, sizeof(int));
    }

    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    public struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int EpollCtl(int epoll, int op, int fd, EpollEvent* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epoll, EpollEvent* events, int max, int timeout);

    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    public static partial int Accept4(int fd, void* address, void* length, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    public static partial int SetSockOpt(int fd, int level, int name, void* value, int length);
}
