using System.Runtime.InteropServices;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>The Linux system calls the event-loop transport makes (x86-64 and arm64 layouts).</summary>
internal static unsafe partial class EpollNative
{
    public const uint EpollIn = 0x001;
    public const uint EpollOut = 0x004;
    public const uint EpollErr = 0x008;
    public const uint EpollHup = 0x010;
    public const uint EpollRdHup = 0x2000;
    public const uint EpollEt = 0x80000000;

    public const int EpollCtlAdd = 1;
    public const int EpollCtlDel = 2;
    public const int EpollCloExec = 0x80000;

    public const int AfInet = 2;
    public const int AfInet6 = 10;
    public const int SockStream = 1;
    public const int SockNonBlock = 0x800;
    public const int SockCloExec = 0x80000;
    public const int SolSocket = 1;
    public const int SoReuseAddr = 2;
    public const int SoError = 4;
    public const int SoSndBuf = 7;
    public const int SoReusePort = 15;
    public const int IpProtoTcp = 6;
    public const int IpProtoIpv6 = 41;
    public const int Ipv6V6Only = 26;
    public const int TcpNoDelay = 1;
    public const int TcpInfo = 11;
    public const byte TcpStateClosed = 7;
    public const int MsgNoSignal = 0x4000;
    public const int ShutWr = 1;
    public const int ShutRdWr = 2;
    public const int EfdNonBlock = 0x800;
    public const int EfdCloExec = 0x80000;

    public const int EIntr = 4;
    public const int EAgain = 11;
    public const int EPipe = 32;
    public const int EAddrInUse = 98;
    public const int EAddrNotAvail = 99;
    public const int EConnAborted = 103;
    public const int EConnReset = 104;
    public const int EInProgress = 115;

    // epoll_event is packed on x86-64 (12 bytes) and naturally aligned elsewhere (16 bytes).
    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    public static int Errno => Marshal.GetLastPInvokeError();

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int EpollCtl(int epoll, int op, int fd, byte* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epoll, byte* events, int max, int timeout);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initial, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, void* buffer, nint length);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, void* buffer, nint length);

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    public static partial int Bind(int fd, byte* address, int length);

    [LibraryImport("libc", EntryPoint = "listen", SetLastError = true)]
    public static partial int Listen(int fd, int backlog);

    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    public static partial int Accept4(int fd, byte* address, int* length, int flags);

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    public static partial int Connect(int fd, byte* address, int length);

    [LibraryImport("libc", EntryPoint = "getsockname", SetLastError = true)]
    public static partial int GetSockName(int fd, byte* address, int* length);

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    public static partial int GetSockOpt(int fd, int level, int name, void* value, int* length);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    public static partial int SetSockOpt(int fd, int level, int name, void* value, int length);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(int fd, void* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    public static partial nint SendMsg(int fd, MsgHdr* message, int flags);

    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    public static partial int Shutdown(int fd, int how);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    public static void SetInt(int fd, int level, int name, int value) => _ = SetSockOpt(fd, level, name, &value, sizeof(int));

    /// <summary>Whether the connection's TCP state is CLOSED: at the end of input, a reset rather than a FIN.</summary>
    public static bool IsTcpClosed(int fd)
    {
        // struct tcp_info begins with the state byte; the kernel copies as much of it as asked for.
        var info = stackalloc byte[8];
        var length = 8;
        return GetSockOpt(fd, IpProtoTcp, TcpInfo, info, &length) == 0 && length >= 1 && info[0] == TcpStateClosed;
    }

    /// <summary>Adds <paramref name="fd"/> to an epoll set with <paramref name="token"/> as its event data.</summary>
    public static int Add(int epoll, int fd, uint events, ulong token)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = events;
        *(ulong*)(ev + 4 + (EventSize - 12)) = token;
        return EpollCtl(epoll, EpollCtlAdd, fd, ev);
    }

    public static int Remove(int epoll, int fd)
    {
        // Kernels before 2.6.9 required a non-null event for EPOLL_CTL_DEL; a dummy costs nothing.
        var ev = stackalloc byte[16];
        return EpollCtl(epoll, EpollCtlDel, fd, ev);
    }

    public static uint EventsAt(byte* events, int index) => *(uint*)(events + (index * EventSize));

    public static ulong TokenAt(byte* events, int index) => *(ulong*)(events + (index * EventSize) + 4 + (EventSize - 12));
}
