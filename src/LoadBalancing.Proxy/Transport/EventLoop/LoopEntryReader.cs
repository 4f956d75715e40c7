using System.IO.Pipelines;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// The input Kestrel reads: the socket's pipe reader, except that a read begun off the loop moves to the loop first.
/// Kestrel starts each new connection on the thread pool, and a request whose code continued off the loop (after
/// awaiting something that is not the loop's) comes back to read the next one there; without the move, a request whose
/// bytes were already in would run on that thread and take its upstream connection off the loop.
/// </summary>
internal sealed class LoopEntryReader(PipeReader inner, EpollLoop loop) : PipeReader
{
    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) =>
        loop.IsCurrent ? inner.ReadAsync(cancellationToken) : EnterAsync(cancellationToken);

    private async ValueTask<ReadResult> EnterAsync(CancellationToken cancellationToken)
    {
        await loop.Yield();
        return await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
    }

    public override bool TryRead(out ReadResult result)
    {
        if (!loop.IsCurrent)
        {
            // Kestrel tries a synchronous read before it awaits one: nothing here, so that it awaits, on the loop.
            result = default;
            return false;
        }

        return inner.TryRead(out result);
    }

    public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
}
