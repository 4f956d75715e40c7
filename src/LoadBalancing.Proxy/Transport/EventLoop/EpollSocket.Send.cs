using System.Buffers;

namespace LoadBalancing.Proxy.Transport.EventLoop;

internal sealed partial class EpollSocket
{
    private const int MaxSegments = 16;

    private readonly WritableSignal _writable = new();
    private readonly MemoryHandle[] _pins = new MemoryHandle[MaxSegments];

    /// <summary>
    /// Sends what the application flushes. Runs on the loop thread only: it starts there and every await resumes
    /// there (the output pipe's reader scheduler and the writable signal both continue inline on the loop).
    /// </summary>
    private async Task SendLoopAsync()
    {
        var reader = _output.Reader;
        Exception? error = null;
        Exception? unexpected = null;
        var keepReceiving = false;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    reader.AdvanceTo(result.Buffer.Start);
                    break;
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
                        _ = await _writable.WaitAsync().ConfigureAwait(false);
                    }
                    else if (errno != EpollNative.EIntr)
                    {
                        throw Error(errno, "Sending");
                    }
                }

                reader.AdvanceTo(buffer.Start);
                if (_socketClosed)
                {
                    break;
                }

                if (result.IsCompleted)
                {
                    if (_halfCloseWhenDone)
                    {
                        // An upstream whose forwarder finished sending (a tunnel's client is done): pass the FIN on and
                        // go on receiving until the socket is disposed.
                        _ = EpollNative.Shutdown(_fd, EpollNative.ShutWr);
                        reader.Complete();
                        _sendDone.TrySetResult();
                        return;
                    }

                    break;
                }
            }
        }
        catch (Exception ex) when (IsReset(ex))
        {
            error = ex;

            // An upstream that reset the connection may have answered before it did (at once, leaving the request body
            // unread): its answer is still in the socket, so receiving goes on until it reports the end itself. The
            // socket reports a reset once, to whichever call comes first, so it is recorded here too.
            keepReceiving = _upstream;
            ResetByPeer |= _upstream;
        }
        catch (Exception ex)
        {
            error = ex;
            unexpected = ex;
        }
        finally
        {
            if (!keepReceiving)
            {
                CloseSocket(error);
            }

            reader.Complete(unexpected);
            _sendDone.TrySetResult();
        }
    }

    /// <summary>One send of up to <see cref="MaxSegments"/> segments; the bytes sent, or -1 with errno set.</summary>
    private unsafe nint Send(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsSingleSegment)
        {
            var memory = buffer.First;
            using var pin = memory.Pin();
            var iov = new EpollNative.IoVec { Base = pin.Pointer, Length = (nuint)memory.Length };
            var message = new EpollNative.MsgHdr { Iov = &iov, IovLength = 1 };
            return EpollNative.SendMsg(_fd, &message, EpollNative.MsgNoSignal);
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
}
