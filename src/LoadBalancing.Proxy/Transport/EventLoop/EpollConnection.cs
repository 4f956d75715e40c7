using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// An accepted TCP connection owned by one <see cref="EpollLoop"/>: the loop receives straight into the input pipe
/// and flushes it on its own thread (so Kestrel's parser and the application above it run there), and sends what
/// the application flushes to the output pipe, inline when it flushed on the loop thread, woken through the loop
/// otherwise. The descriptor is only ever used and closed on the loop thread.
/// </summary>
internal sealed partial class EpollConnection : ConnectionContext, IEpollHandler,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IMemoryPoolFeature, IConnectionLifetimeFeature, IConnectionEndPointFeature
{
    // As Kestrel's socket transport: stop receiving past 1 MiB the application has not read, stop the application
    // writing past 64 KiB not yet sent.
    private const int MaxUnread = 1024 * 1024;
    private const int MaxUnsent = 64 * 1024;

    private static long s_lastId;

    private readonly EpollLoop _loop;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly CancellationTokenSource _closed = new();
    private readonly TaskCompletionSource _sendDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _fd;
    private ulong _token;
    private bool _socketClosed;
    private Exception? _shutdownReason;
    private string? _id;
    private IDictionary<object, object?>? _items;

    public EpollConnection(int fd, EpollLoop loop, MemoryPool<byte> pool, EndPoint? local, EndPoint? remote)
    {
        _fd = fd;
        _loop = loop;
        MemoryPool = pool;
        LocalEndPoint = local;
        RemoteEndPoint = remote;

        // Both pipes continue on the loop thread: the application's reads resume where the loop flushed, its flushes
        // resume where the loop sent, and a request's work stays on one thread.
        _input = new Pipe(new PipeOptions(pool, loop.Scheduler, loop.Scheduler, MaxUnread, MaxUnread / 2, useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(pool, loop.Scheduler, loop.Scheduler, MaxUnsent, MaxUnsent / 2, useSynchronizationContext: false));
        Transport = new DuplexPipe(_input.Reader, _output.Writer);
        _onFlushed = OnFlushed;

        var features = new FeatureCollection();
        features.Set<IConnectionIdFeature>(this);
        features.Set<IConnectionTransportFeature>(this);
        features.Set<IConnectionItemsFeature>(this);
        features.Set<IMemoryPoolFeature>(this);
        features.Set<IConnectionLifetimeFeature>(this);
        features.Set<IConnectionEndPointFeature>(this);
        Features = features;
    }

    public override string ConnectionId
    {
        get => _id ??= "E" + Interlocked.Increment(ref s_lastId).ToString("X8", System.Globalization.CultureInfo.InvariantCulture);
        set => _id = value;
    }

    public override IFeatureCollection Features { get; }

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new Dictionary<object, object?>();
        set => _items = value;
    }

    public override IDuplexPipe Transport { get; set; }

    public MemoryPool<byte> MemoryPool { get; }

    public override CancellationToken ConnectionClosed
    {
        get => _closed.Token;
        set => throw new NotSupportedException();
    }

    /// <summary>Registers the descriptor and starts sending; on the loop thread, right after accept.</summary>
    public void Start()
    {
        _token = _loop.Register(_fd, EpollNative.EpollIn | EpollNative.EpollOut | EpollNative.EpollRdHup | EpollNative.EpollEt, this);
        _ = SendLoopAsync();
    }

    public void OnEvents(uint events)
    {
        if ((events & (EpollNative.EpollIn | EpollNative.EpollRdHup | EpollNative.EpollErr | EpollNative.EpollHup)) != 0)
        {
            // With a FIN (or an error) in the same readiness the short-receive shortcut could leave it unseen: no
            // further edge comes for it. Receive until the kernel says so.
            _drainFully |= (events & (EpollNative.EpollRdHup | EpollNative.EpollErr | EpollNative.EpollHup)) != 0;
            Receive();
        }

        if ((events & (EpollNative.EpollOut | EpollNative.EpollErr | EpollNative.EpollHup)) != 0)
        {
            _writable.Signal(!_socketClosed);
        }
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        if (_loop.IsCurrent)
        {
            AbortOnLoop(abortReason);
        }
        else
        {
            _loop.Post(static state =>
            {
                var (connection, reason) = ((EpollConnection, ConnectionAbortedException))state!;
                connection.AbortOnLoop(reason);
            }, (this, abortReason));
        }
    }

    private void AbortOnLoop(ConnectionAbortedException reason)
    {
        // As Kestrel's socket transport: shut the socket down (the peer sees a FIN, or a reset when input is left
        // unread), then stop the send loop; what the application still had unsent is dropped.
        CloseSocket(reason);
        if (!_sendDone.Task.IsCompleted)
        {
            _output.Reader.CancelPendingRead();
        }
    }

    /// <summary>Shuts down and closes the descriptor once; on the loop thread only.</summary>
    private void CloseSocket(Exception? reason)
    {
        if (_socketClosed)
        {
            return;
        }

        _socketClosed = true;
        _shutdownReason ??= reason ?? new ConnectionAbortedException("The event-loop transport's send loop completed gracefully.");
        _ = EpollNative.Shutdown(_fd, EpollNative.ShutRdWr);
        _loop.Unregister(_fd, _token);
        _ = EpollNative.Close(_fd);
        _fd = -1;
        _writable.Signal(false);
        EndReceive(null);
    }

    private void FireConnectionClosed()
    {
        // Off the loop: ConnectionClosed's callbacks belong to the application and may take their time.
        ThreadPool.UnsafeQueueUserWorkItem(static connection =>
        {
            try
            {
                connection._closed.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Disposed first: nobody is listening any more.
            }
        }, this, preferLocal: false);
    }

    public override async ValueTask DisposeAsync()
    {
        _input.Reader.Complete();
        _output.Writer.Complete();
        await _sendDone.Task.ConfigureAwait(false);
        _closed.Dispose();
        await base.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
