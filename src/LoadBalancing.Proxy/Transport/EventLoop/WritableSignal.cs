using System.Threading.Tasks.Sources;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// What a non-blocking connect awaits: true when the descriptor becomes writable (the connect has finished, well or
/// not), false when it is closed first. Waited for and signalled on the loop thread only, so the continuation runs
/// inline there. (Sends that meet a full buffer wait for no task: the writable edge calls the sender again.)
/// </summary>
internal sealed class WritableSignal : IValueTaskSource<bool>
{
    private ManualResetValueTaskSourceCore<bool> _core;
    private bool _waiting;

    public ValueTask<bool> WaitAsync()
    {
        _core.Reset();
        _waiting = true;
        return new ValueTask<bool>(this, _core.Version);
    }

    public void Signal(bool writable)
    {
        if (_waiting)
        {
            _waiting = false;
            _core.SetResult(writable);
        }
    }

    public bool GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
