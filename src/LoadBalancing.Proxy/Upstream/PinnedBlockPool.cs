using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using LoadBalancing.Proxy.Transport.EventLoop;

namespace LoadBalancing.Proxy.Upstream;

/// <summary>
/// Fixed-size blocks on the pinned object heap for the upstream connections' pipes (and, on the event-loop
/// transport, the inbound ones'). A socket call on a pinned block pins nothing per call, and blocks are reused
/// instead of allocated per read. At most <c>maxRetained</c> free blocks are kept; past that a returned block is
/// left to the GC, so a burst of large bodies does not hold its memory for ever.
/// </summary>
/// <remarks>
/// On an event loop's thread, blocks are returned to and rented from a small stack of that loop's own, the most
/// recently returned first: a receive lands in memory the same core touched a request ago, and neither side touches
/// the shared queue that every core's rents and returns meet in. Off the loops (Kestrel's socket transport, the thread
/// pool) and when a loop's stack is full or empty, the shared queue serves, oldest first.
/// </remarks>
internal sealed class PinnedBlockPool : MemoryPool<byte>
{
    /// <summary>
    /// 28 KiB, seven of Kestrel's 4 KiB blocks: one upstream receive per 28 KiB of a large body instead of
    /// one per 4 KiB (Kestrel's socket transport), and when a receive is passed on to the client in one
    /// flush it spans at most eight of Kestrel's blocks wherever it starts — the most one socket send takes
    /// without allocating (see <see cref="Forwarding.HttpForwarder.MaxBytesPerFlush"/>).
    /// </summary>
    public const int BlockSize = 28 * 1024;

    /// <summary>The free blocks a loop keeps for itself: enough for the buffers its requests hold at once in the usual case.</summary>
    private const int LoopStackDepth = 32;

    // One stack per event loop (by its index; Environment.ProcessorCount loops), made when the loop first uses this pool.
    private readonly LoopStack?[] _loopStacks = new LoopStack?[Environment.ProcessorCount];

    private readonly ConcurrentQueue<Block> _free = new();
    private readonly int _blockSize;
    private readonly int _maxRetained;
    private int _retained;

    // Rare events only (a block made, a block let go past the bound), so that renting and returning, which
    // every forwarded request does, touch no counter beyond the free-list's own.
    private int _created;
    private int _dropped;

    /// <param name="maxRetained">The most free blocks kept, the loops' stacks included.</param>
    /// <param name="blockSize">Bytes per block.</param>
    public PinnedBlockPool(int maxRetained = 256, int blockSize = BlockSize)
    {
        _maxRetained = maxRetained;
        _blockSize = blockSize;
    }

    public override int MaxBufferSize => _blockSize;

    /// <summary>Free blocks held for reuse.</summary>
    public int Retained => Volatile.Read(ref _retained);

    /// <summary>
    /// Blocks rented and not yet returned: bytes received or to send that are still buffered. A moment's
    /// view, derived from the rare events; while blocks change hands it may be off by those in transit.
    /// </summary>
    public int InUse => Math.Max(0, Volatile.Read(ref _created) - Volatile.Read(ref _dropped) - Retained);

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, _blockSize);
        if ((LoopStackOfThisThread()?.TryPop(out var block) ?? false) || _free.TryDequeue(out block))
        {
            Interlocked.Decrement(ref _retained);
            return block;
        }

        Interlocked.Increment(ref _created);
        return new Block(this);
    }

    protected override void Dispose(bool disposing)
    {
        // Blocks still rented go back to a pool nobody rents from; the GC takes them with the pool.
    }

    private void Return(Block block)
    {
        if (Interlocked.Increment(ref _retained) <= _maxRetained)
        {
            if (LoopStackOfThisThread() is not { } stack || !stack.TryPush(block))
            {
                _free.Enqueue(block);
            }

            return;
        }

        Interlocked.Decrement(ref _retained);
        Interlocked.Increment(ref _dropped);
    }

    /// <summary>The calling loop's stack, if the thread is an event loop's; null otherwise.</summary>
    private LoopStack? LoopStackOfThisThread() =>
        EpollLoop.Current is { } loop ? _loopStacks[loop.Index] ??= new LoopStack() : null;

    /// <summary>A loop's free blocks of one pool. Touched by the loop's thread only: no synchronisation.</summary>
    private sealed class LoopStack
    {
        private readonly Block[] _blocks = new Block[LoopStackDepth];
        private int _count;

        public bool TryPop(out Block block)
        {
            if (_count == 0)
            {
                block = null!;
                return false;
            }

            block = _blocks[--_count];
            _blocks[_count] = null!;
            return true;
        }

        public bool TryPush(Block block)
        {
            if (_count == _blocks.Length)
            {
                return false;
            }

            _blocks[_count++] = block;
            return true;
        }
    }

    private sealed class Block : IMemoryOwner<byte>
    {
        private readonly PinnedBlockPool _pool;

        public Block(PinnedBlockPool pool)
        {
            _pool = pool;
            Memory = MemoryMarshal.CreateFromPinnedArray(GC.AllocateUninitializedArray<byte>(pool._blockSize, pinned: true), 0, pool._blockSize);
        }

        public Memory<byte> Memory { get; }

        // The pipe disposes each segment's owner exactly once, when the segment is consumed.
        public void Dispose() => _pool.Return(this);
    }
}
