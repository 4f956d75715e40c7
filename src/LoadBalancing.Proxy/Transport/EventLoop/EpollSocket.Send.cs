using System.Buffers;
using System.IO.Pipelines;

namespace LoadBalancing.Proxy.Transport.EventLoop;

internal sealed partial class EpollSocket
{
    private const int MaxSegments = 16;

    private readonly MemoryHandle[] _pins = new MemoryHandle[MaxSegments];
    private bool _started;
    private bool _sending;
    private bool _flushedWhileSending;
    private bool _awaitingWritable;
    private bool _sendFinished;
    private int _sendPosted;

    /// <summary>How many times a send met a full socket buffer and waited for the writable edge.</summary>
    internal int BlockedSends { get; private set; }

    /// <summary>
    /// Sends what the output pipe holds, synchronously, until it is empty or the socket's buffer is full; on the loop
    /// thread only. Called by a flush (<see cref="OutputWriter"/>), by the writable edge after a full buffer, and once at
    /// the start. No read is ever pending on the pipe: a flush on the loop sends inside the flush, with no continuation
    /// scheduled and no send loop resumed, which a request would otherwise pay for twice (its upstream request, its
    /// response).
    /// </summary>
    private void SendAvailable()
    {
        // A send can resume the writer (a paused flush) inline, and the writer flush again: the outer call sends that too.
        if (_sending)
        {
            _flushedWhileSending = true;
            return;
        }

        if (!_started || _awaitingWritable || _sendFinished)
        {
            return;
        }

        _sending = true;
        try
        {
            SendUntilBlocked();
        }
        catch (Exception ex)
        {
            // The writer completed its output with an error (the read rethrows it), or the pipe failed.
            FailSending(ex);
        }
        finally
        {
            _sending = false;
        }
    }

    private void SendUntilBlocked()
    {
        var reader = _output.Reader;
        while (!_sendFinished)
        {
            _flushedWhileSending = false;
            if (!reader.TryRead(out var result))
            {
                return;
            }

            var buffer = result.Buffer;
            while (!buffer.IsEmpty && !_socketClosed)
            {
                var sent = Send(buffer);
                if (sent >= 0)
                {
                    buffer = buffer.Slice(sent);
                    continue;
                }

                var errno = EpollNative.Errno;
                if (errno == EpollNative.EAgain)
                {
                    // The socket's buffer is full: the next EPOLLOUT edge (or the close) resumes this.
                    _awaitingWritable = true;
                    BlockedSends++;
                    reader.AdvanceTo(buffer.Start);
                    return;
                }

                if (errno != EpollNative.EIntr)
                {
                    reader.AdvanceTo(buffer.Start);
                    FailSending(Error(errno, "Sending"));
                    return;
                }
            }

            // Consuming may resume a paused writer here, which may abort the connection: look again after it.
            reader.AdvanceTo(buffer.Start);
            if (_sendFinished)
            {
                return;
            }

            if (_socketClosed)
            {
                FinishSending(null);
                return;
            }

            if (result.IsCompleted)
            {
                EndOutput();
                return;
            }

            // Only a flush makes more readable, and a flush on this thread while sending was noted above (one from another
            // thread posts a send of its own): without one the pipe is empty, and a second TryRead (the pipe's lock and
            // read state, about 190 instructions) would only say so.
            if (!_flushedWhileSending)
            {
                return;
            }
        }
    }

    /// <summary>A flush or the writer's completion, from any thread: sends now on the loop, or has the loop send.</summary>
    private void OnOutputFlushed()
    {
        if (_loop.IsCurrent)
        {
            SendAvailable();
            return;
        }

        // One post at a time: the posted call clears the flag before it reads, so a flush after that is seen by it or
        // posts again.
        if (Interlocked.Exchange(ref _sendPosted, 1) == 0)
        {
            _loop.Post(static state =>
            {
                var socket = (EpollSocket)state!;
                Interlocked.Exchange(ref socket._sendPosted, 0); // a full fence: the read below comes after it
                socket.SendAvailable();
            }, this);
        }
    }

    /// <summary>The socket is writable again after a full buffer.</summary>
    private void OnWritable()
    {
        if (_awaitingWritable)
        {
            _awaitingWritable = false;
            SendAvailable();
        }
    }

    /// <summary>The application completed its output and all of it was sent.</summary>
    private void EndOutput()
    {
        if (_halfCloseWhenDone)
        {
            // An upstream whose forwarder finished sending (a tunnel's client is done): pass the FIN on and go on
            // receiving until the socket is disposed.
            _ = EpollNative.Shutdown(_fd, EpollNative.ShutWr);
            FinishSending(null);
            return;
        }

        CloseSocket(null);
    }

    private void FailSending(Exception error)
    {
        if (IsReset(error) && _upstream)
        {
            // An upstream that reset the connection may have answered before it did (at once, leaving the request body
            // unread): its answer is still in the socket, so receiving goes on until it reports the end itself. The
            // socket reports a reset once, to whichever call comes first, so it is recorded here too.
            ResetByPeer = true;
            FinishSending(null);
            return;
        }

        FinishSending(IsReset(error) ? null : error);
        CloseSocket(error);
    }

    /// <summary>Ends sending once: the writer's next flush reports completion, and disposal may finish.</summary>
    private void FinishSending(Exception? unexpected)
    {
        if (_sendFinished)
        {
            return;
        }

        _sendFinished = true;
        _awaitingWritable = false;
        _output.Reader.Complete(unexpected);
        _sendDone.TrySetResult();
    }

    /// <summary>One send of up to <see cref="MaxSegments"/> segments; the bytes sent, or -1 with errno set.</summary>
    private unsafe nint Send(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsSingleSegment)
        {
            // The call is synchronous: pinning for its length is enough, and a fixed span costs no handle.
            var span = buffer.FirstSpan;
            fixed (byte* data = span)
            {
                var iov = new EpollNative.IoVec { Base = data, Length = (nuint)span.Length };
                var message = new EpollNative.MsgHdr { Iov = &iov, IovLength = 1 };
                return EpollNative.SendMsg(_fd, &message, EpollNative.MsgNoSignal);
            }
        }

        var vectors = stackalloc EpollNative.IoVec[MaxSegments];
        var count = 0;
        foreach (var segment in buffer)
        {
            if (segment.IsEmpty)
            {
                continue;
            }

            _pins[count] = segment.Pin();
            vectors[count] = new EpollNative.IoVec { Base = _pins[count].Pointer, Length = (nuint)segment.Length };
            if (++count == MaxSegments)
            {
                break;
            }
        }

        try
        {
            var message = new EpollNative.MsgHdr { Iov = vectors, IovLength = (nuint)count };
            return EpollNative.SendMsg(_fd, &message, EpollNative.MsgNoSignal);
        }
        finally
        {
            for (var i = 0; i < count; i++)
            {
                _pins[i].Dispose();
                _pins[i] = default;
            }
        }
    }

    /// <summary>
    /// The output pipe's writer as the application sees it: the pipe's own, telling the socket of each flush and of the
    /// completion so that it sends them (no read waits on the pipe).
    /// </summary>
    private sealed class OutputWriter(EpollSocket socket, PipeWriter inner) : PipeWriter
    {
        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;

        public override void Advance(int bytes) => inner.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            // Flushed first, then sent: a flush past the pause threshold is pending until the send consumed enough, and
            // on the loop the send below does that before anyone awaits it.
            var flush = inner.FlushAsync(cancellationToken);
            socket.OnOutputFlushed();
            return flush;
        }

        public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
        {
            var write = inner.WriteAsync(source, cancellationToken);
            socket.OnOutputFlushed();
            return write;
        }

        public override void Complete(Exception? exception = null)
        {
            inner.Complete(exception);
            socket.OnOutputFlushed();
        }
    }
}
