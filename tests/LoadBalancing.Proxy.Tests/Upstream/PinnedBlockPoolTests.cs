using LoadBalancing.Proxy.Transport.EventLoop;
using LoadBalancing.Proxy.Upstream;

namespace LoadBalancing.Proxy.Tests.Upstream;

/// <summary>
/// The pinned-block pool: bounded retention, and on an event loop's thread a stack of the loop's own, so that the
/// block a loop rents is the one it gave back last (still in its core's cache), while other threads share the queue.
/// </summary>
public sealed class PinnedBlockPoolTests
{
    [Fact]
    public void ReusesReturnedBlocks_AndRetainsNoMoreThanItsBound()
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

    [Fact]
    public void BlockSize_IsTheOneAskedFor()
    {
        using var pool = new PinnedBlockPool(blockSize: 4096);
        using var block = pool.Rent();
        Assert.Equal(4096, block.Memory.Length);
        Assert.Equal(4096, pool.MaxBufferSize);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(4097));
    }

    [Fact]
    public void OffTheLoops_TheOldestFreeBlockIsRentedFirst()
    {
        using var pool = new PinnedBlockPool();
        var (first, last) = ReturnTwo(pool);

        using var next = pool.Rent();
        Assert.True(next.Memory.Span == first.Span, "off the loops the shared queue serves, oldest first");
        Assert.False(next.Memory.Span == last.Span);
    }

    [Fact(Timeout = 30_000)]
    public async Task OnALoop_TheLastBlockReturnedThereIsTheFirstRented()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the event loop is epoll");
        using var pool = new PinnedBlockPool();
        var sameBlock = await OnLoop(EpollLoopGroup.Loops[0], () =>
        {
            var (_, last) = ReturnTwo(pool);
            using var next = pool.Rent();
            return next.Memory.Span == last.Span;
        }, TestContext.Current.CancellationToken);

        Assert.True(sameBlock, "a loop rents the block it gave back last");
    }

    [Fact(Timeout = 30_000)]
    public async Task BlocksOnALoopsStack_CountAsRetained_AndTheBoundCoversThem()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the event loop is epoll");
        using var pool = new PinnedBlockPool(maxRetained: 20);
        await OnLoop(EpollLoopGroup.Loops[0], () =>
        {
            var blocks = Enumerable.Range(0, 50).Select(_ => pool.Rent()).ToArray();
            foreach (var block in blocks)
            {
                block.Dispose();
            }

            return true;
        }, TestContext.Current.CancellationToken);

        Assert.Equal(20, pool.Retained);
        Assert.Equal(0, pool.InUse);

        // Off the loop only the shared queue is seen (empty here): the loop's stack keeps its blocks, still counted.
        var elsewhere = Enumerable.Range(0, 5).Select(_ => pool.Rent()).ToArray();
        Assert.Equal(5, pool.InUse);
        Assert.Equal(20, pool.Retained);
        foreach (var block in elsewhere)
        {
            block.Dispose();
        }

        Assert.Equal(20, pool.Retained);
    }

    /// <summary>Rents two blocks and returns them in order; returns their memory.</summary>
    private static (Memory<byte> First, Memory<byte> Last) ReturnTwo(PinnedBlockPool pool)
    {
        var first = pool.Rent();
        var last = pool.Rent();
        first.Dispose();
        last.Dispose();
        return (first.Memory, last.Memory);
    }

    private static Task<T> OnLoop<T>(EpollLoop loop, Func<T> work, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(_ =>
        {
            try
            {
                done.SetResult(work());
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        }, null);
        return done.Task.WaitAsync(cancellationToken);
    }
}
