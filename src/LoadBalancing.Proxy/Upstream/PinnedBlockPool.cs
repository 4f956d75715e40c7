using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace LoadBalancing.Proxy.Upstream;

/// <summary>
/// Fixed-size blocks on the pinned object heap for the upstream connections' pipes. A socket call on a
/// pinned block pins nothing per call, and blocks are reused instead of allocated per read. At most
/// <c>maxRetained</c> free blocks are kept; past that a returned block is left to the GC, so a burst of
/// large bodies does not hold its memory for ever.
/// </summary>
internal sealed class PinnedBlockPool : MemoryPool<byte>
{
    /// <summary>
    /// 28 KiB, seven of Kestrel's 4 KiB blocks: one upstream receive per 28 KiB of a large body instead of
    /// one per 4 KiB (Kestrel's socket transport), and when a receive is passed on to the client in one
    /// flush it spans at most eight of Kestrel's blocks wherever it starts — the most one socket send takes
    /// without allocating (see <see cref="Forwarding.HttpForwarder.MaxBytesPerFlush"/>).
    /// </summary>
    public const int BlockSize = 28 * 1024;

    private readonly ConcurrentQueue<Block> _free = new();
    private readonly int _maxRetained;
    private int _retained;

    // Rare events only (a block made, a block let go past the bound), so that renting and returning, which
    // every forwarded request does, touch no counter beyond the free-list's own.
    private int _created;
    private int _dropped;

    public PinnedBlockPool(int maxRetained = 256)
    {
        _maxRetained = maxRetained;
    }

    public override int MaxBufferSize => BlockSize;

    /// <summary>Free blocks held for reuse.</summary>
    public int Retained => Volatile.Read(ref _retained);

    /// <summary>
    /// Blocks rented and not yet returned: bytes received or to send that are still buffered. A moment's
    /// view, derived from the rare events; while blocks change hands it may be off by those in transit.
    /// </summary>
    public int InUse => Math.Max(0, Volatile.Read(ref _created) - Volatile.Read(ref _dropped) - Retained);

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        if (_free.TryDequeue(out var block))
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
            _free.Enqueue(block);
            return;
        }

        Interlocked.Decrement(ref _retained);
        Interlocked.Increment(ref _dropped);
    }

    private sealed class Block : IMemoryOwner<byte>
    {
        private readonly PinnedBlockPool _pool;

        public Block(PinnedBlockPool pool)
        {
            _pool = pool;
            Memory = MemoryMarshal.CreateFromPinnedArray(GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true), 0, BlockSize);
        }

        public Memory<byte> Memory { get; }

        // The pipe disposes each segment's owner exactly once, when the segment is consumed.
        public void Dispose() => _pool.Return(this);
    }
}
