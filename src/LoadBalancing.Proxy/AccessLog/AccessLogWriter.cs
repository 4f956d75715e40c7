using System.Buffers;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using LoadBalancing.Proxy.Metrics;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.AccessLog;

/// <summary>Where lines go instead of stdout or the configured file, and how many may wait (tests).</summary>
internal sealed record AccessLogOutput(Func<Stream> Open, int Capacity = AccessLogOptions.DefaultCapacity);

/// <summary>
/// Queues entries from the request path on a bounded channel and writes them from one background task, in
/// batches. A full queue drops the entry and counts it: the request never waits for the log.
/// </summary>
internal sealed class AccessLogWriter : IAsyncDisposable
{
    // Lines are handed to the stream in batches of about this many bytes (a few hundred lines).
    private const int BatchBytes = 64 * 1024;

    // How long a batch that did not fill up may wait for more lines: lines reach the output at most this late.
    private static readonly TimeSpan GatherTime = TimeSpan.FromMilliseconds(20);

    private readonly Channel<AccessLogEntry> _channel;
    private readonly AccessLogFormatter _formatter;
    private readonly Func<Stream> _open;
    private readonly string _path;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly double _sampleRate;
    private readonly Lock _sync = new();
    private readonly PosixSignalRegistration? _reopenSignal;
    private readonly Task _loop;
    private Stream? _stream;
    private bool _failing;
    private long _dropped;
    private long _written;

    public AccessLogWriter(AccessLogOptions options, TimeProvider time, ILogger logger, AccessLogOutput? output = null)
    {
        _time = time;
        _logger = logger;
        _sampleRate = options.SampleRate;
        _formatter = AccessLogFormatter.Create(options);
        _path = output is not null ? "(test output)" : string.IsNullOrEmpty(options.Path) ? "stdout" : Path.GetFullPath(options.Path);
        _open = output?.Open ?? (string.IsNullOrEmpty(options.Path) ? Console.OpenStandardOutput : OpenFile);
        _channel = Channel.CreateBounded<AccessLogEntry>(new BoundedChannelOptions(output?.Capacity ?? AccessLogOptions.DefaultCapacity)
        {
            // TryWrite on a full channel returns false (and is counted); nothing ever waits in Wait mode without WriteAsync.
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            AllowSynchronousContinuations = false,
        });
        _stream = _open();
        if (output is null && !string.IsNullOrEmpty(options.Path) && SigUsr1() is { } signal)
        {
            _reopenSignal = PosixSignalRegistration.Create(signal, Reopen);
        }

        _loop = Task.Run(RunAsync);
    }

    /// <summary>Lines dropped because the writer was behind (or had stopped).</summary>
    public long Dropped => Volatile.Read(ref _dropped);

    /// <summary>Lines handed to the output.</summary>
    public long Written => Volatile.Read(ref _written);


    /// <summary>Whether this request is to be logged; decided once, before anything is recorded for it.</summary>
    /// <param name="routeRate">The route's own rate, when it sets one; otherwise the log's.</param>
    public bool Sample(double? routeRate = null)
    {
        var rate = routeRate ?? _sampleRate;
        return rate >= 1 || (rate > 0 && Random.Shared.NextDouble() < rate);
    }

    public void Write(in AccessLogEntry entry)
    {
        if (!_channel.Writer.TryWrite(entry))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>Logs a request the proxy answered itself before choosing a cluster.</summary>
    public void WriteAnswered(HttpContext context, long started, int status, long bytesOut, string reason, string? route = null) =>
        Write(Describe(context, started) with
        {
            Status = status,
            BytesOut = bytesOut,
            UpstreamTime = TimeSpan.MinValue,
            Route = route,
            Reason = reason,
        });

    /// <summary>What every line says of the request itself, from strings Kestrel already holds.</summary>
    private AccessLogEntry Describe(HttpContext context, long started)
    {
        var request = context.Request;
        var host = request.Headers.Host;
        return new AccessLogEntry
        {
            TimeTicks = _time.GetUtcNow().UtcTicks,
            Client = context.Connection.RemoteIpAddress,
            Method = request.Method,
            Host = host.Count > 0 ? host[0] : null,
            Target = RawTarget(context),
            Protocol = request.Protocol,
            Duration = _time.GetElapsedTime(started),
            TraceId = System.Diagnostics.Activity.Current?.TraceId ?? default,
        };
    }

    public long Now() => _time.GetTimestamp();

    /// <summary>Logs a request that reached the forwarder, from what its exchange recorded.</summary>
    public void WriteForwarded(HttpContext context, long started, Clusters.ProxyCluster cluster, Forwarding.Exchange exchange)
    {
        var aborted = context.RequestAborted.IsCancellationRequested;
        var last = exchange.Last;
        var reason = exchange.Reason ?? (aborted ? ClusterMetrics.ErrorNames[(int)UpstreamError.ClientAborted]
            : last.Done ? null : ClusterMetrics.ErrorNames[(int)last.Error]);
        var bytesOut = exchange.BytesOut;
        if (reason is not null && bytesOut == 0 && !aborted)
        {
            // The proxy's own short answer, written with a Content-Length.
            bytesOut = context.Response.ContentLength ?? 0;
        }

        var entry = Describe(context, started);
        Write(entry with
        {
            TraceId = entry.TraceId == default ? exchange.TraceId : entry.TraceId,
            Status = aborted ? 0 : context.Response.StatusCode,
            BytesIn = exchange.BytesIn,
            BytesOut = bytesOut,
            Upstream = exchange.Upstream,
            UpstreamStatus = exchange.UpstreamStatus,
            UpstreamTime = exchange.UpstreamTime,
            Route = exchange.Route?.Name,
            Cluster = cluster.Name,
            Attempts = exchange.Attempts,
            Reason = reason,
        });
    }

    /// <summary>The target as received (path and query, percent-encoded): a string Kestrel already holds.</summary>
    public static string? RawTarget(HttpContext context) =>
        context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget;

    private async Task RunAsync()
    {
        var reader = _channel.Reader;
        var buffer = new ArrayBufferWriter<byte>(BatchBytes + 4096);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            var lines = 0;
            while (buffer.WrittenCount < BatchBytes && reader.TryRead(out var entry))
            {
                try
                {
                    _formatter.Format(in entry, buffer);
                    lines++;
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
                {
                    // One bad entry must not end the writer (it would silently drop every line after it).
                    Interlocked.Increment(ref _dropped);
                    AccessLogLog.FormatFailed(_logger, e);
                }
            }

            var full = buffer.WrittenCount >= BatchBytes;
            Flush(buffer.WrittenSpan, lines);
            buffer.ResetWrittenCount();
            if (!full)
            {
                // Woken per line, the writer would cost a thread-pool hop and a write(2) for every request; letting
                // lines gather for a moment turns those into one per batch. Real time on purpose: a test's
                // FakeTimeProvider must not hold the log back.
                await Task.Delay(GatherTime).ConfigureAwait(false);
            }
        }
    }

    private void Flush(ReadOnlySpan<byte> bytes, int lines)
    {
        lock (_sync)
        {
            if (_stream is not { } stream)
            {
                Interlocked.Add(ref _dropped, lines);
                return;
            }

            try
            {
                stream.Write(bytes);
                stream.Flush();
                _failing = false;
                Interlocked.Add(ref _written, lines);
            }
            catch (IOException e)
            {
                Interlocked.Add(ref _dropped, lines);
                if (!_failing)
                {
                    // Once per failure spell: a full disk would otherwise log an error per batch.
                    _failing = true;
                    AccessLogLog.WriteFailed(_logger, _path, e);
                }
            }
        }
    }

    private void Reopen(PosixSignalContext context)
    {
        // SIGUSR1's default action ends the process.
        context.Cancel = true;
        lock (_sync)
        {
            _stream?.Dispose();
            _stream = null;
            try
            {
                _stream = _open();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                AccessLogLog.ReopenFailed(_logger, _path, e);
                return;
            }
        }

        AccessLogLog.Reopened(_logger, _path);
    }

    private FileStream OpenFile() =>
        new(_path, new FileStreamOptions
        {
            Mode = FileMode.Append,
            Access = FileAccess.Write,
            // logrotate renames the file while it is open; readers (tail -f) share it.
            Share = FileShare.ReadWrite | FileShare.Delete,
            BufferSize = 0,
        });

    private static PosixSignal? SigUsr1()
    {
        // Not in PosixSignal; raw numbers are accepted on Unix.
        if (OperatingSystem.IsLinux())
        {
            return (PosixSignal)10;
        }

        if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            return (PosixSignal)30;
        }

        return null;
    }

    public async ValueTask DisposeAsync()
    {
        _reopenSignal?.Dispose();
        _channel.Writer.TryComplete();
        // Lines already queued are written, unless the output is stuck.
        await _loop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        lock (_sync)
        {
            if (_stream is FileStream file)
            {
                file.Dispose();
            }

            _stream = null;
        }
    }
}
