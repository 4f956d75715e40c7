using System.IO.Pipelines;
using System.Threading.Tasks.Sources;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// The input Kestrel reads: the socket's pipe reader, except that a read begun off the loop completes on the loop.
/// Kestrel starts each new connection on the thread pool, and a request whose code continued off the loop (after
/// awaiting something that is not the loop's) comes back to read the next one there; without the move, a request whose
/// bytes were already in would run on that thread and take its upstream connection off the loop.
/// </summary>
/// <remarks>
/// The read off the loop starts only once the caller has registered its continuation. Started at once, a read of
/// bytes already received could finish on the loop before the caller looked at the returned task, and the caller
/// would then see it complete and go on synchronously on its own thread: the first request of a connection did so
/// now and then.
/// </remarks>
internal sealed class LoopEntryReader : PipeReader, IValueTaskSource<ReadResult>
{
    private readonly PipeReader _inner;
    private readonly EpollLoop _loop;
    private readonly Action _onInnerRead;
    private ManualResetValueTaskSourceCore<ReadResult> _entry;
    private CancellationToken _entryCancellation;
    private ValueTask<ReadResult> _innerRead;

    public LoopEntryReader(PipeReader inner, EpollLoop loop)
    {
        _inner = inner;
        _loop = loop;
        _onInnerRead = OnInnerRead;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (_loop.IsCurrent)
        {
            return _inner.ReadAsync(cancellationToken);
        }

        // One read at a time (the PipeReader contract), so one reusable entry suffices.
        _entry.Reset();
        _entryCancellation = cancellationToken;
        return new ValueTask<ReadResult>(this, _entry.Version);
    }

    public override bool TryRead(out ReadResult result)
    {
        if (!_loop.IsCurrent)
        {
            // Kestrel tries a synchronous read before it awaits one: nothing here, so that it awaits, on the loop.
            result = default;
            return false;
        }

        return _inner.TryRead(out result);
    }

    public override void AdvanceTo(SequencePosition consumed) => _inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => _inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead() => _inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => _inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => _inner.CompleteAsync(exception);

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _entry.GetStatus(token);

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _entry.GetResult(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        _entry.OnCompleted(continuation, state, token, flags);
        _loop.Post(static self => ((LoopEntryReader)self!).ReadOnLoop(), this);
    }

    private void ReadOnLoop()
    {
        try
        {
            // Kept in a field to be consumed exactly once, here or in OnInnerRead: this method cannot await.
#pragma warning disable CA2012
            _innerRead = _inner.ReadAsync(_entryCancellation);
#pragma warning restore CA2012
        }
        catch (Exception ex)
        {
            _entry.SetException(ex);
            return;
        }

        if (_innerRead.IsCompleted)
        {
            OnInnerRead();
        }
        else
        {
            // The pipe's reader scheduler is the loop's: this continues on the loop thread.
            _innerRead.GetAwaiter().UnsafeOnCompleted(_onInnerRead);
        }
    }

    private void OnInnerRead()
    {
        var read = _innerRead;
        _innerRead = default;
        ReadResult result;
        try
        {
            result = read.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            _entry.SetException(ex);
            return;
        }

        // Runs the caller's continuation inline, here on the loop.
        _entry.SetResult(result);
    }
}
