using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Transport.EventLoop;
using LoadBalancing.Proxy.Upstream.Tls;

namespace LoadBalancing.Proxy.Upstream;

/// <summary>
/// Idle keep-alive connections to one endpoint, most recently used first (so a few hot connections stay
/// warm and the rest age out), and the connect path for new ones. On an event loop's thread (Proxy:Transport =
/// EventLoop) plaintext connections are opened on that loop and kept apart per loop, so a request taken off a loop
/// only ever gets a connection living on the same loop.
/// </summary>
internal sealed class UpstreamPool : IDisposable
{
    // [0]: connections on System.Net.Sockets; [1 + n]: connections on event loop n (made when first needed).
    private readonly Stack<UpstreamConnection>?[] _idle = new Stack<UpstreamConnection>?[1 + Environment.ProcessorCount];
    private readonly MemoryPool<byte> _blocks;
    private readonly TimeProvider _time;
    private readonly ClusterMetrics _metrics;
    private readonly int _maxIdle;
    private readonly TimeSpan _idleTimeout;
    private readonly UpstreamTlsSettings? _tls;
    private bool _disposed;

    public UpstreamPool(BackendEndpoint endpoint, MemoryPool<byte> blocks, ClusterMetrics metrics, TimeProvider time, int maxIdle, TimeSpan idleTimeout, UpstreamTlsSettings? tls = null)
    {
        Endpoint = endpoint;
        RemoteEndPoint = RemoteEndPointOf(endpoint);
        Authority = endpoint.Address.Contains(':', StringComparison.Ordinal)
            ? $"[{endpoint.Address}]:{endpoint.Port}"
            : $"{endpoint.Address}:{endpoint.Port}";
        _blocks = blocks;
        _metrics = metrics;
        _time = time;
        _maxIdle = maxIdle;
        _idleTimeout = idleTimeout;
        _tls = tls;
    }

    public BackendEndpoint Endpoint { get; }

    /// <summary>Where an endpoint is connected to: its IP address, or its host name resolved at connect time.</summary>
    public static EndPoint RemoteEndPointOf(BackendEndpoint endpoint) =>
        IPAddress.TryParse(endpoint.Address, out var ip) ? new IPEndPoint(ip, endpoint.Port) : new DnsEndPoint(endpoint.Address, endpoint.Port);

    /// <summary>The endpoint's HTTP/2 client, for clusters that speak HTTP/2 to their endpoints; null otherwise.</summary>
    public Multiplexed.MultiplexedClient? Multiplexed { get; init; }

    /// <summary>The endpoint's running totals for <c>/backends</c>, kept here because every attempt already holds its pool.</summary>
    public Clusters.EndpointTotals Totals { get; } = new();

    public EndPoint RemoteEndPoint { get; }

    /// <summary><c>https</c> when the endpoint is spoken to over TLS, else <c>http</c>.</summary>
    public string Scheme => Multiplexed?.Scheme ?? (_tls is null ? "http" : "https");

    /// <summary>The endpoint as a Host header value, for clusters that do not preserve the client's.</summary>
    public string Authority { get; }

    public int IdleCount
    {
        get
        {
            lock (_idle)
            {
                return _idle.Sum(s => s?.Count ?? 0);
            }
        }
    }

    /// <summary>Takes a clean idle connection, closing stale ones on the way.</summary>
    public bool TryTake(out UpstreamConnection connection)
    {
        var now = _time.GetTimestamp();
        // TLS connections are never on a loop (SslStream needs System.Net.Sockets): every thread shares those.
        var slot = _tls is null ? SlotOf(EpollLoop.Current) : 0;
        while (true)
        {
            lock (_idle)
            {
                if (_idle[slot] is not { } idle || !idle.TryPop(out connection!))
                {
                    connection = null!;
                    return false;
                }
            }

            if (_time.GetElapsedTime(connection.IdleSince, now) < _idleTimeout && connection.IsClean())
            {
                _metrics.ConnectionReused();
                return true;
            }

            connection.Close();
        }
    }

    /// <summary>Puts a connection that finished a request cleanly back for reuse.</summary>
    public void Return(UpstreamConnection connection)
    {
        connection.IdleSince = _time.GetTimestamp();
        lock (_idle)
        {
            var idle = _idle[SlotOf(connection.Loop)] ??= new();
            if (!_disposed && idle.Count < _maxIdle)
            {
                idle.Push(connection);
                return;
            }
        }

        connection.Close();
    }

    /// <summary>
    /// Opens a new connection, with the cluster's TLS handshake if it has TLS (within the same cancellation, the connect
    /// timeout); throws <see cref="SocketException"/>, <see cref="OperationCanceledException"/> or
    /// <see cref="UpstreamTlsException"/>.
    /// </summary>
    public async ValueTask<UpstreamConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        if (_tls is null && EpollLoop.Current is { } loop && RemoteEndPoint is IPEndPoint endPoint)
        {
            var onLoop = await LoopUpstreamSocket.ConnectAsync(loop, endPoint, _blocks, cancellationToken).ConfigureAwait(false);
            _metrics.ConnectionOpened();
            return new UpstreamConnection(onLoop, this, loop);
        }

        var socket = RemoteEndPoint is IPEndPoint ip
            ? new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(SocketType.Stream, ProtocolType.Tcp);
        SslStream? tls = null;
        try
        {
            socket.NoDelay = true;
            await socket.ConnectAsync(RemoteEndPoint, cancellationToken).ConfigureAwait(false);
            if (_tls is not null)
            {
                tls = await _tls.AuthenticateAsync(socket, Endpoint.Address, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        _metrics.ConnectionOpened();
        return new UpstreamConnection(new UpstreamSocket(socket, _blocks, tls), this);
    }

    /// <summary>Closes idle connections that have been idle too long.</summary>
    public void CloseExpired()
    {
        var now = _time.GetTimestamp();
        List<UpstreamConnection>? expired = null;
        lock (_idle)
        {
            foreach (var idle in _idle)
            {
                if (idle is null || idle.Count == 0)
                {
                    continue;
                }

                // The stack's bottom holds the longest idle; rebuild it keeping the fresh ones in order.
                var keep = new List<UpstreamConnection>(idle.Count);
                var before = expired?.Count ?? 0;
                foreach (var connection in idle)
                {
                    if (_time.GetElapsedTime(connection.IdleSince, now) >= _idleTimeout)
                    {
                        (expired ??= []).Add(connection);
                    }
                    else
                    {
                        keep.Add(connection);
                    }
                }

                if ((expired?.Count ?? 0) == before)
                {
                    continue;
                }

                idle.Clear();
                for (var i = keep.Count - 1; i >= 0; i--)
                {
                    idle.Push(keep[i]);
                }
            }
        }

        foreach (var connection in expired ?? [])
        {
            connection.Close();
        }
    }

    internal void ConnectionClosed() => _metrics.ConnectionClosed();

    private static int SlotOf(EpollLoop? loop) => loop is null ? 0 : 1 + loop.Index;

    public void Dispose()
    {
        Multiplexed?.Dispose();
        List<UpstreamConnection> idle = [];
        lock (_idle)
        {
            _disposed = true;
            foreach (var stack in _idle)
            {
                if (stack is not null)
                {
                    idle.AddRange(stack);
                    stack.Clear();
                }
            }
        }

        foreach (var connection in idle)
        {
            connection.Close();
        }
    }
}
