using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>IP end points to and from Linux's sockaddr_in and sockaddr_in6.</summary>
internal static unsafe class SockAddr
{
    /// <summary>Large enough for a sockaddr_in6.</summary>
    public const int MaxLength = 28;

    public static int Write(IPEndPoint endPoint, byte* address)
    {
        new Span<byte>(address, MaxLength).Clear();
        BinaryPrimitives.WriteUInt16BigEndian(new Span<byte>(address + 2, 2), (ushort)endPoint.Port);
        if (endPoint.AddressFamily == AddressFamily.InterNetwork)
        {
            *(ushort*)address = EpollNative.AfInet;
            _ = endPoint.Address.TryWriteBytes(new Span<byte>(address + 4, 4), out _);
            return 16;
        }

        *(ushort*)address = EpollNative.AfInet6;
        _ = endPoint.Address.TryWriteBytes(new Span<byte>(address + 8, 16), out _);
        *(uint*)(address + 24) = (uint)endPoint.Address.ScopeId;
        return 28;
    }

    public static IPEndPoint? Read(byte* address, int length)
    {
        var port = BinaryPrimitives.ReadUInt16BigEndian(new ReadOnlySpan<byte>(address + 2, 2));
        var family = *(ushort*)address;
        if (family == EpollNative.AfInet && length >= 16)
        {
            return new IPEndPoint(new IPAddress(new ReadOnlySpan<byte>(address + 4, 4)), port);
        }

        if (family == EpollNative.AfInet6 && length >= 28)
        {
            return new IPEndPoint(new IPAddress(new ReadOnlySpan<byte>(address + 8, 16), *(uint*)(address + 24)), port);
        }

        return null;
    }

    public static IPEndPoint? LocalOf(int fd)
    {
        var address = stackalloc byte[MaxLength];
        var length = MaxLength;
        return EpollNative.GetSockName(fd, address, &length) == 0 ? Read(address, length) : null;
    }

    /// <summary>The exception the sockets transport would throw for a failed bind or listen, so Kestrel treats it alike.</summary>
    public static Exception BindError(int errno, EndPoint endPoint) => errno switch
    {
        EpollNative.EAddrInUse => new Microsoft.AspNetCore.Connections.AddressInUseException($"{endPoint} is already in use.", new SocketException((int)SocketError.AddressAlreadyInUse)),
        EpollNative.EAddrNotAvail => new SocketException((int)SocketError.AddressNotAvailable),
        _ => new IOException($"Binding {endPoint} failed: errno {errno}."),
    };
}
