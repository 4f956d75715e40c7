using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// A connected TCP descriptor owned by one <see cref="EpollLoop"/>, with a pipe each way: the loop receives straight
/// into <see cref="Input"/> and flushes it on its own thread (so whoever reads it continues there), and sends what is
/// flushed to <see cref="Output"/> within the flush when it came from the loop thread, posted to the loop otherwise.
/// The descriptor is only ever used and closed on the loop thread. Inbound connections (under Kestrel) and upstream
/// connections (the forwarder's) are both this; they differ in the errors they report and in what the end of output means.
/// </summary>
internal sealed partial class EpollSocket : IEpollHandler
{
    private readonly EpollLoop _loop;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly OutputWriter _outputWriter;
    private readonly bool _upstream;
    private readonly bool _halfCloseWhenDone;
    private readonly Action? _receiveEnded;
    private readonly TaskCompletionSource _sendDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _fd;
    private ulong _token;
    private bool _registered;
    private bool _socketClosed;
    private Exception? _shutdownReason;

    // upstream: errors are SocketExceptions as System.Net.Sockets reports them, the end of output half-closes (the FIN
    // is passed on), and closing it ourselves is no error. Otherwise an inbound connection as Kestrel expects it:
    // ConnectionResetException, and the end of output closes.
    public EpollSocket(int fd, EpollLoop loop, MemoryPool<byte> pool, int maxUnread, int maxUnsent, bool upstream, Action? receiveEnded)
    {
        _fd = fd;
        _loop = loop;
        _upstream = upstream;
        _halfCloseWhenDone = upstream;
        _receiveEnded = receiveEnded;
        _onFlushed = OnFlushed;

        // Both pipes continue on the loop thread: reads resume where the loop flushed, flushes resume where the loop
        // sent, and a request's work stays on one thread.
        _input = new Pipe(new PipeOptions(pool, loop.Scheduler, loop.Scheduler, maxUnread, maxUnread / 2, useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(pool, loop.Scheduler, loop.Scheduler, maxUnsent, maxUnsent / 2, useSynchronizationContext: false));
        _outputWriter = new OutputWriter(this, _output.Writer);
    }

    public EpollLoop Loop => _loop;

    /// <summary>What the peer sent; completes at its FIN, or with the error.</summary>
    public PipeReader Input => _input.Reader;

    /// <summary>What to send to the peer.</summary>
    public PipeWriter Output => _outputWriter;

    /// <summary>An upstream's: whether the peer reset the connection (its input then ends as at a FIN).</summary>
    public bool ResetByPeer { get; private set; }

    /// <summary>Caps the kernel's send buffer for this socket (so that a test's sends meet a full buffer).</summary>
    internal void LimitSendBuffer(int bytes) => EpollNative.SetInt(_fd, EpollNative.SolSocket, EpollNative.SoSndBuf, bytes);

    /// <summary>Watches the descriptor, edge-triggered for its whole life; on the loop thread.</summary>
    public void Register()
    {
        _token = _loop.Register(_fd, EpollNative.EpollIn | EpollNative.EpollOut | EpollNative.EpollRdHup | EpollNative.EpollEt, this);
        _registered = true;
    }

    /// <summary>Starts sending (what may already be flushed) and receiving (what may already be there); on the loop thread, once connected.</summary>
    public void Start()
    {
        _started = true;
        SendAvailable();
        _drainFully = true;
        Receive();
    }

    public void OnEvents(uint events)
    {
        if (_connecting)
        {
            // Until the connect completes, readiness only says that it did; receiving could consume its error.
            _writable.Signal(!_socketClosed);
            return;
        }

        if ((events & (EpollNative.EpollIn | EpollNative.EpollRdHup | EpollNative.EpollErr | EpollNative.EpollHup)) != 0)
        {
            // With a FIN (or an error) in the same readiness the short-receive shortcut could leave it unseen: no
            // further edge comes for it. Receive until the kernel says so.
            _drainFully |= (events & (EpollNative.EpollRdHup | EpollNative.EpollErr | EpollNative.EpollHup)) != 0;
            Receive();
        }

        if ((events & (EpollNative.EpollOut | EpollNative.EpollErr | EpollNative.EpollHup)) != 0)
        {
            OnWritable();
        }
    }

    /// <summary>Shuts the socket down and stops sending; from any thread. What was not sent yet is dropped.</summary>
    public void Abort(Exception? reason)
    {
        if (_loop.IsCurrent)
        {
            AbortOnLoop(reason);
        }
        else
        {
            _loop.Post(static state =>
            {
                var (socket, reason) = ((EpollSocket, Exception?))state!;
                socket.AbortOnLoop(reason);
            }, (this, reason));
        }
    }

    private void AbortOnLoop(Exception? reason)
    {
        // As Kestrel's socket transport: shut the socket down (the peer sees a FIN, or a reset when input is left
        // unread), and stop sending.
        CloseSocket(reason);
    }

    /// <summary>Shuts down and closes the descriptor once, and ends sending; on the loop thread only.</summary>
    private void CloseSocket(Exception? reason)
    {
        if (_socketClosed)
        {
            return;
        }

        _socketClosed = true;
        _shutdownReason ??= reason ?? (_upstream ? null : new ConnectionAbortedException("The event-loop transport's send loop completed gracefully."));
        _ = EpollNative.Shutdown(_fd, EpollNative.ShutRdWr);
        if (_registered)
        {
            _loop.Unregister(_fd, _token);
        }

        _ = EpollNative.Close(_fd);
        _fd = -1;
        _writable.Signal(false);
        EndReceive(null);
        FinishSending(null);
    }

    /// <summary>Completes both pipe ends of the reader and writer, and waits until sending has ended.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_upstream)
        {
            // The end of output only half-closes an upstream: closing is ours to do.
            Abort(null);
        }

        _input.Reader.Complete();
        _outputWriter.Complete();
        await _sendDone.Task.ConfigureAwait(false);
    }

    private Exception Error(int errno, string what)
    {
        var reset = errno is EpollNative.EConnReset or EpollNative.EPipe;
        if (_upstream)
        {
            return new SocketException((int)(reset ? SocketError.ConnectionReset : SocketError.SocketError));
        }

        return reset ? new ConnectionResetException("The client reset the connection.") : new IOException($"{what} failed: errno {errno}.");
    }

    private static bool IsReset(Exception ex) =>
        ex is ConnectionResetException || (ex is SocketException socket && socket.SocketErrorCode == SocketError.ConnectionReset);
}
