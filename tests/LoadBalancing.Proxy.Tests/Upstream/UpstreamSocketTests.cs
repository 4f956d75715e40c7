using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using LoadBalancing.Proxy.Upstream;

namespace LoadBalancing.Proxy.Tests.Upstream;

/// <summary>The upstream transport over a real loopback TCP connection, with the test as the upstream.</summary>
public sealed class UpstreamSocketTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Input_OneMebibyte_ArrivesIntactInBlocksLargerThanKestrels()
    {
        await using var pair = await Pair.ConnectAsync();
        var body = Pattern(1 << 20);
        var sending = pair.Server.SendAsync(body, SocketFlags.None);

        var received = new byte[body.Length];
        var offset = 0;
        var largestSegment = 0;
        while (offset < body.Length)
        {
            var result = await pair.Upstream.Input.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(Bound, TestContext.Current.CancellationToken);
            foreach (var segment in result.Buffer)
            {
                largestSegment = Math.Max(largestSegment, segment.Length);
            }

            result.Buffer.CopyTo(received.AsSpan(offset));
            offset += (int)result.Buffer.Length;
            pair.Upstream.Input.AdvanceTo(result.Buffer.End);
        }

        await sending;
        Assert.Equal(body, received);

        // Kestrel's socket transport received 4 KiB per call; ours fills a whole block when the data is there.
        Assert.True(largestSegment > 4096, $"largest segment {largestSegment} bytes");
        Assert.True(largestSegment <= PinnedBlockPool.BlockSize, $"largest segment {largestSegment} bytes");
    }

    [Fact]
    public async Task Output_FlushedBytes_ReachTheUpstreamInOrder()
    {
        await using var pair = await Pair.ConnectAsync();
        var body = Pattern(300_000);
        for (var offset = 0; offset < body.Length; offset += 10_000)
        {
            await pair.Upstream.Output.WriteAsync(body.AsMemory(offset, 10_000), TestContext.Current.CancellationToken);
        }

        var received = await pair.ReadAtServerAsync(body.Length);

        Assert.Equal(body, received);
    }

    [Fact]
    public async Task Output_Completed_SendsFinButKeepsReceiving()
    {
        // A tunnel whose client has finished: the upstream sees end of stream and may still answer.
        await using var pair = await Pair.ConnectAsync();
        await pair.Upstream.Output.CompleteAsync();

        var buffer = new byte[16];
        Assert.Equal(0, await pair.Server.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, TestContext.Current.CancellationToken).AsTask().WaitAsync(Bound, TestContext.Current.CancellationToken));

        await pair.Server.SendAsync("late"u8.ToArray(), SocketFlags.None);
        var result = await pair.Upstream.Input.ReadAtLeastAsync(4, TestContext.Current.CancellationToken).AsTask().WaitAsync(Bound, TestContext.Current.CancellationToken);
        Assert.Equal("late"u8.ToArray(), result.Buffer.ToArray());
    }

    [Fact]
    public async Task Input_UpstreamCloses_CompletesTheReaderAfterTheLastBytes()
    {
        await using var pair = await Pair.ConnectAsync();
        await pair.Server.SendAsync("bye"u8.ToArray(), SocketFlags.None);
        pair.Server.Shutdown(SocketShutdown.Send);

        var result = await pair.Upstream.Input.ReadAtLeastAsync(int.MaxValue, TestContext.Current.CancellationToken).AsTask().WaitAsync(Bound, TestContext.Current.CancellationToken);

        Assert.True(result.IsCompleted);
        Assert.Equal("bye"u8.ToArray(), result.Buffer.ToArray());
        Assert.False(pair.Upstream.ResetByPeer);
    }

    [Fact]
    public async Task Input_UpstreamResets_CompletesTheReaderAfterTheLastBytes_AndSaysItWasAReset()
    {
        // A pipe completed with the error would throw at the next read and drop "answer" unread: an upstream that answers
        // and resets at once (the request body unread) would lose its answer.
        await using var pair = await Pair.ConnectAsync();
        await pair.Server.SendAsync("answer"u8.ToArray(), SocketFlags.None);
        pair.Server.LingerState = new LingerOption(true, 0); // close with RST
        pair.Server.Close();

        var result = await pair.Upstream.Input.ReadAtLeastAsync(int.MaxValue, TestContext.Current.CancellationToken).AsTask().WaitAsync(Bound, TestContext.Current.CancellationToken);

        Assert.True(result.IsCompleted);
        Assert.Equal("answer"u8.ToArray(), result.Buffer.ToArray());
        Assert.True(pair.Upstream.ResetByPeer, "a reset must not look like a clean close");
    }

    [Fact]
    public async Task Dispose_WhileWaitingForData_EndsBothLoopsAndClosesTheSocket()
    {
        await using var pair = await Pair.ConnectAsync();

        await pair.Upstream.DisposeAsync().AsTask().WaitAsync(Bound, TestContext.Current.CancellationToken);

        var buffer = new byte[16];
        Assert.Equal(0, await pair.Server.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, TestContext.Current.CancellationToken).AsTask().WaitAsync(Bound, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Dispose_WhileASendIsBlockedByAnUpstreamThatDoesNotRead_EndsTheSend()
    {
        // The upstream never reads, and both socket buffers are small: after a few writes the send loop
        // waits on a full socket and the forwarder's flush on back-pressure. Closing must end both.
        await using var pair = await Pair.ConnectAsync(smallBuffers: true);
        var chunk = new byte[16 * 1024];
        var underWay = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writing = Task.Run(async () =>
        {
            for (var i = 0; i < 1024; i++)
            {
                if (i == 2)
                {
                    // Soon held back: the pipe pauses at 64 KiB unsent and the socket holds a few KiB.
                    underWay.TrySetResult();
                }

                try
                {
                    var flush = await pair.Upstream.Output.WriteAsync(chunk);
                    if (flush.IsCompleted || flush.IsCanceled)
                    {
                        return i;
                    }
                }
                catch (InvalidOperationException)
                {
                    // The close completed the pipe between two writes: the next write is refused, which ends it too.
                    return i;
                }
            }

            return -1;
        }, TestContext.Current.CancellationToken);
        await underWay.Task.WaitAsync(Bound, TestContext.Current.CancellationToken);

        await pair.Upstream.DisposeAsync().AsTask().WaitAsync(Bound, TestContext.Current.CancellationToken);
        var writes = await writing.WaitAsync(Bound, TestContext.Current.CancellationToken);

        Assert.InRange(writes, 2, 1023); // stopped by the close, not by running out of data (16 MiB)
    }

    [Fact]
    public void PinnedBlockPool_ReusesReturnedBlocks_AndRetainsNoMoreThanItsBound()
    {
        using var pool = new PinnedBlockPool(maxRetained: 2);
        var first = pool.Rent();
        var firstMemory = first.Memory;
        first.Dispose();

        using (var again = pool.Rent())
        {
            Assert.True(again.Memory.Span == firstMemory.Span, "a returned block is handed out again");
            Assert.Equal(PinnedBlockPool.BlockSize, again.Memory.Length);
        }

        var blocks = Enumerable.Range(0, 5).Select(_ => pool.Rent()).ToArray();
        foreach (var block in blocks)
        {
            block.Dispose();
        }

        Assert.Equal(2, pool.Retained);
        Assert.Equal(0, pool.InUse);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(PinnedBlockPool.BlockSize + 1));
    }

    private static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)((i * 31) ^ (i >> 8));
        }

        return bytes;
    }

    /// <summary>An <see cref="UpstreamSocket"/> connected to a socket the test holds as the upstream.</summary>
    private sealed class Pair : IAsyncDisposable
    {
        private readonly PinnedBlockPool _pool;

        private Pair(Socket client, Socket server, PinnedBlockPool pool)
        {
            _pool = pool;
            Upstream = new UpstreamSocket(client, pool);
            Server = server;
        }

        public UpstreamSocket Upstream { get; }

        public Socket Server { get; }

        public static async Task<Pair> ConnectAsync(bool smallBuffers = false)
        {
            using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(1);
            if (smallBuffers)
            {
                listener.ReceiveBufferSize = 4096; // inherited by the accepted socket
            }

            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            if (smallBuffers)
            {
                client.SendBufferSize = 4096;
            }

            var accepting = listener.AcceptAsync();
            await client.ConnectAsync(listener.LocalEndPoint!);
            var server = await accepting;
            return new Pair(client, server, new PinnedBlockPool());
        }

        public async Task<byte[]> ReadAtServerAsync(int length)
        {
            var received = new byte[length];
            var offset = 0;
            while (offset < length)
            {
                var n = await Server.ReceiveAsync(received.AsMemory(offset), SocketFlags.None).AsTask().WaitAsync(Bound);
                Assert.NotEqual(0, n);
                offset += n;
            }

            return received;
        }

        public async ValueTask DisposeAsync()
        {
            await Upstream.DisposeAsync();
            Server.Dispose();
            _pool.Dispose();
        }
    }
}
