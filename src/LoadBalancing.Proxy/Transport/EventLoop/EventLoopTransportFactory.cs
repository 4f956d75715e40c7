using System.Buffers;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// Kestrel's transport on the process's epoll loops (Linux only), for IP end points; Kestrel's own transports keep
/// everything else (Unix sockets, named pipes). Registered after Kestrel's socket transport, it is the one Kestrel
/// tries first. While it lives it logs the loops' stalls and the failures they caught (<see cref="EpollLoopWatchdog"/>).
/// </summary>
internal sealed class EventLoopTransportFactory(IMemoryPoolFactory<byte>? pools = null, ILoggerFactory? loggers = null)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector, IDisposable
{
    // Kestrel's pinned-block pool: receives and sends pin its blocks for free. Without the factory (never, under
    // Kestrel) the shared pool works, pinning each buffer as it goes.
    private readonly MemoryPool<byte> _pool = pools?.Create(new MemoryPoolOptions { Owner = "EventLoopTransport" }) ?? MemoryPool<byte>.Shared;
    private readonly ILogger _logger = (loggers ?? NullLoggerFactory.Instance).CreateLogger("LoadBalancing.Proxy.Transport.EventLoop");
    private IDisposable? _observing;

    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("The event-loop transport runs on Linux only.");
        }

        var ip = endpoint as IPEndPoint ?? throw new NotSupportedException($"The event-loop transport binds IP end points only, not {endpoint}.");
        var loops = EpollLoopGroup.Loops;
        if (_observing is null && EpollLoopGroup.Watchdog is { } watchdog)
        {
            var subscription = watchdog.Subscribe(new LoggingObserver(_logger));
            if (Interlocked.CompareExchange(ref _observing, subscription, null) is not null)
            {
                subscription.Dispose();
            }
        }

        return new(EpollListener.Bind(ip, loops, _pool));
    }

    public void Dispose() => Interlocked.Exchange(ref _observing, null)?.Dispose();

    private sealed class LoggingObserver(ILogger logger) : IEpollLoopObserver
    {
        public void OnStall(LoopStall stall) => EventLoopLog.Report(logger, stall);

        public void OnFailure(int loop, Exception exception) => EventLoopLog.Failed(logger, loop, exception);
    }
}
