using System.IO.Pipelines;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// The input Kestrel reads: the socket's pipe reader, except that a first read off the loop (Kestrel starts each new
/// connection on the thread pool) moves to the loop before it reads. Without it the first request of a connection ran
/// on the thread pool whenever its bytes were already there, and took its upstream connection off the loop.
/// </summary>
internal sealed class LoopEntryReader(PipeReader inner, EpollLoop loop) : PipeReader
{
    private bool _entered;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (!_entered)
        {
            _entered = true;
            if (!loop.IsCurrent)
            {
                return EnterAsync(cancellationToken);
            }
        }

        return inner.ReadAsync(cancellationToken);
    }

    private async ValueTask<ReadResult> EnterAsync(CancellationToken cancellationToken)
    {
        await loop.Yield();
        return await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
    }

    public override bool TryRead(out ReadResult result) => inner.TryRead(out result);

    public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
}
