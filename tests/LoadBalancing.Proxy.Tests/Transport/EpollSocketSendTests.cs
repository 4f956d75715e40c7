using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using LoadBalancing.Proxy.Transport.EventLoop;
using LoadBalancing.Proxy.Upstream;

namespace LoadBalancing.Proxy.Tests.Transport;

/// <summary>
/// The event loop's sending, which no read waits for on the output pipe: a send that meets a full socket buffer goes on
/// at the writable edge, whether the flushes come from the loop or from elsewhere, and every byte arrives in order.
/// </summary>
public sealed class EpollSocketSendTests
{
    private const int MaxUnsent = 64 * 1024;

    [Theory(Timeout = 30_000)]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Send_ThatFillsTheSocketBuffer_GoesOnAtTheWritableEdge_AndEverythingArrives(bool writeOnTheLoop)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the event loop is epoll");
        var ct = TestContext.Current.CancellationToken;
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.ReceiveBufferSize = 4096; // the accepted socket's too: a small window
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var loop = EpollLoopGroup.Loops[0];
        using var pool = new PinnedBlockPool();
        var socket = await OnLoop(loop, () => EpollSocket.ConnectAsync(loop, (IPEndPoint)listener.LocalEndPoint!, pool, MaxUnsent, MaxUnsent, ct).AsTask());
        using var peer = await listener.AcceptAsync(ct);

        // An 8 KiB send buffer under 8 MiB: sends meet a full buffer again and again.
        socket.LimitSendBuffer(4096);
        var body = new byte[8 * 1024 * 1024];
        new Random(35).NextBytes(body);
        var writing = writeOnTheLoop ? OnLoop(loop, () => WriteAllAsync(socket, body)) : Task.Run(() => WriteAllAsync(socket, body), ct);

        using var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await peer.ReceiveAsync(buffer, SocketFlags.None, ct)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        await writing;
        Assert.Equal(body.Length, received.Length);
        Assert.Equal(SHA256.HashData(body), SHA256.HashData(received.ToArray()));
        Assert.True(socket.BlockedSends > 0, "no send met a full buffer: the test did not test the writable edge");
        await socket.DisposeAsync();
    }

    private static async Task WriteAllAsync(EpollSocket socket, byte[] body)
    {
        for (var offset = 0; offset < body.Length; offset += MaxUnsent)
        {
            await socket.Output.WriteAsync(body.AsMemory(offset, Math.Min(MaxUnsent, body.Length - offset)));
        }

        await socket.Output.CompleteAsync();
    }

    /// <summary>Runs <paramref name="start"/> on the loop thread (so that its awaits resume there) and returns its task.</summary>
    private static Task<T> OnLoop<T>(EpollLoop loop, Func<Task<T>> start)
    {
        var done = new TaskCompletionSource<Task<T>>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(static state =>
        {
            var (start, done) = ((Func<Task<T>>, TaskCompletionSource<Task<T>>))state!;
            done.SetResult(start());
        }, (start, done));
        return done.Task.Unwrap();
    }

    private static Task<bool> OnLoop(EpollLoop loop, Func<Task> start) => OnLoop(loop, async () =>
    {
        await start();
        return true;
    });
}
