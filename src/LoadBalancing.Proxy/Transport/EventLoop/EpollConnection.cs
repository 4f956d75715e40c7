using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// An accepted connection as Kestrel sees it: an <see cref="EpollSocket"/> on the loop that accepted it, and the
/// features Kestrel's HTTP layer asks a transport for.
/// </summary>
internal sealed class EpollConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IMemoryPoolFeature, IConnectionLifetimeFeature, IConnectionEndPointFeature
{
    // As Kestrel's socket transport: stop receiving past 1 MiB the application has not read, stop the application
    // writing past 64 KiB not yet sent.
    private const int MaxUnread = 1024 * 1024;
    private const int MaxUnsent = 64 * 1024;

    private static long s_lastId;

    private readonly EpollSocket _socket;
    private readonly CancellationTokenSource _closed = new();
    private string? _id;
    private IDictionary<object, object?>? _items;

    public EpollConnection(int fd, EpollLoop loop, MemoryPool<byte> pool, EndPoint? local, EndPoint? remote)
    {
        _socket = new EpollSocket(fd, loop, pool, MaxUnread, MaxUnsent, upstream: false, receiveEnded: FireConnectionClosed);
        MemoryPool = pool;
        LocalEndPoint = local;
        RemoteEndPoint = remote;
        Transport = new DuplexPipe(new LoopEntryReader(_socket.Input, loop), _socket.Output);

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

    /// <summary>Registers the descriptor and starts receiving and sending; on the loop thread, right after accept.</summary>
    public void Start()
    {
        _socket.Register();
        _socket.Start();
    }

    public override void Abort(ConnectionAbortedException abortReason) => _socket.Abort(abortReason);

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
        await _socket.DisposeAsync().ConfigureAwait(false);
        _closed.Dispose();
        await base.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
