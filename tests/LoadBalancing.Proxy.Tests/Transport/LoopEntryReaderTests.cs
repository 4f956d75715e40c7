using System.IO.Pipelines;
using LoadBalancing.Proxy.Transport.EventLoop;

namespace LoadBalancing.Proxy.Tests.Transport;

/// <summary>The event-loop transport's input as Kestrel reads it: a read begun off the loop finishes on the loop.</summary>
public sealed class LoopEntryReaderTests
{
    [Fact(Timeout = 10_000)]
    public async Task ReadOffTheLoop_OfBytesAlreadyIn_WaitsForItsAwaiterThenContinuesOnTheLoop()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the event loop is epoll");
        var loop = EpollLoopGroup.Loops[0];
        var pipe = new Pipe(new PipeOptions(readerScheduler: loop.Scheduler, writerScheduler: loop.Scheduler, useSynchronizationContext: false));
        await pipe.Writer.WriteAsync("GET / HTTP/1.1\r\n\r\n"u8.ToArray(), TestContext.Current.CancellationToken);
        var reader = new LoopEntryReader(pipe.Reader, loop);

        var read = reader.ReadAsync(TestContext.Current.CancellationToken);

        // Whatever the loop has run by now, the read must not have finished: a read that finished before its caller
        // awaited it would let the caller go on synchronously, here, off the loop (Kestrel's first request did).
        await RunOnLoop(loop);
        Assert.False(read.IsCompleted);

        var thread = await ContinuationThread(read);
        Assert.Equal($"epoll loop {loop.Index}", thread);
    }

    [Fact(Timeout = 10_000)]
    public async Task ReadOffTheLoop_OfBytesNotYetIn_ContinuesOnTheLoopWhenTheyArrive()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the event loop is epoll");
        var loop = EpollLoopGroup.Loops[0];
        var pipe = new Pipe(new PipeOptions(readerScheduler: loop.Scheduler, writerScheduler: loop.Scheduler, useSynchronizationContext: false));
        var reader = new LoopEntryReader(pipe.Reader, loop);

        var continued = ContinuationThread(reader.ReadAsync(TestContext.Current.CancellationToken));
        await RunOnLoop(loop);
        Assert.False(continued.IsCompleted);
        await pipe.Writer.WriteAsync("x"u8.ToArray(), TestContext.Current.CancellationToken);

        Assert.Equal($"epoll loop {loop.Index}", await continued);
    }

    private static async Task<string?> ContinuationThread(ValueTask<ReadResult> read)
    {
        var result = await read;
        Assert.False(result.Buffer.IsEmpty);
        return Thread.CurrentThread.Name;
    }

    /// <summary>Completes once the loop has run everything posted to it before.</summary>
    private static Task RunOnLoop(EpollLoop loop)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(static state => ((TaskCompletionSource)state!).SetResult(), done);
        return done.Task;
    }
}
