using System.IO.Pipelines;

namespace LoadBalancing.Proxy.Transport.EventLoop;

internal sealed unsafe partial class EpollSocket
{
    // Kestrel's socket transport asks its pool for at least half a block per receive; so does this one.
    private const int MinReceive = 2048;

    private readonly Action _onFlushed;
    private ValueTask<FlushResult> _pendingFlush;
    private bool _flushPending;
    private bool _receiveDone;
    private bool _drainFully;

    /// <summary>
    /// Receives until the socket is drained, flushing each receive to the application inline. The descriptor is
    /// edge-triggered: one registration for its whole life and no epoll_ctl for back-pressure or partial sends, at the
    /// price of receiving until drained. A receive shorter than the buffer counts as drained (data arriving later
    /// raises a new edge), which saves the EAGAIN receive per request.
    /// </summary>
    private void Receive()
    {
        if (_receiveDone || _flushPending || _socketClosed)
        {
            return;
        }

        var writer = _input.Writer;
        while (true)
        {
            var memory = writer.GetMemory(MinReceive);
            nint received;

            // The call is synchronous: pinning for its length is enough, and a fixed span costs no handle.
            fixed (byte* data = memory.Span)
            {
                received = EpollNative.Recv(_fd, data, memory.Length, 0);
            }

            if (received > 0)
            {
                writer.Advance((int)received);
                // Kept in a field to be consumed exactly once, here or by OnFlushed: this method cannot await.
#pragma warning disable CA2012
                _pendingFlush = writer.FlushAsync();
#pragma warning restore CA2012
                if (!_pendingFlush.IsCompleted)
                {
                    // Back-pressure: stop receiving (the kernel's buffer and then TCP's window fill up) until the
                    // application has read enough; the continuation comes back to this thread.
                    _flushPending = true;
                    _pendingFlush.GetAwaiter().UnsafeOnCompleted(_onFlushed);
                    return;
                }

                var flushed = _pendingFlush.Result;
                _pendingFlush = default;
                if (!Flushed(flushed) || _socketClosed)
                {
                    return;
                }

                if (received < memory.Length && !_drainFully)
                {
                    return;
                }

                continue;
            }

            if (received == 0)
            {
                // A reset the send loop was told of first (the socket reports it once) reads as a FIN here; the
                // connection's state tells them apart.
                ResetByPeer |= _upstream && EpollNative.IsTcpClosed(_fd);
                EndReceive(null);
                return;
            }

            var errno = EpollNative.Errno;
            if (errno == EpollNative.EAgain)
            {
                _drainFully = false;
                return;
            }

            if (errno != EpollNative.EIntr)
            {
                if (_upstream && errno == EpollNative.EConnReset)
                {
                    // Ends the input as a FIN would, after what arrived before the reset (IUpstreamSocket.ResetByPeer).
                    ResetByPeer = true;
                    EndReceive(null);
                    return;
                }

                EndReceive(Error(errno, "Receiving"));
                return;
            }
        }
    }

    private void OnFlushed()
    {
        _flushPending = false;
        var flushed = _pendingFlush.Result;
        _pendingFlush = default;
        if (Flushed(flushed))
        {
            // Whatever arrived while paused raised its edge then; only receiving until EAGAIN is sure to find it.
            _drainFully = true;
            Receive();
        }
    }

    /// <summary>Whether the application still wants input (it has not completed its reader, and sending goes on).</summary>
    private bool Flushed(FlushResult result)
    {
        if (result.IsCompleted || result.IsCanceled)
        {
            EndReceive(null);
            return false;
        }

        return true;
    }

    /// <summary>Completes the reader's input once: clean at a FIN, with the reason when the socket failed or was shut down.</summary>
    private void EndReceive(Exception? error)
    {
        if (_receiveDone)
        {
            return;
        }

        _receiveDone = true;
        _input.Writer.Complete(_shutdownReason ?? error);
        _receiveEnded?.Invoke();
    }
}
