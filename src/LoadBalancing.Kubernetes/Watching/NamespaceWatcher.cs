using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Text.Json;
using k8s.Models;
using LoadBalancing.Kubernetes.Diagnostics;
using LoadBalancing.Kubernetes.Slices;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Kubernetes.Watching;

/// <summary>
/// Keeps one namespace's view of EndpointSlices current: list, then watch from the list's resourceVersion
/// (advancing it on every event and bookmark); restart the watch when the server ends it, when it goes idle, at a
/// client-side deadline, on an error, or when a confirmation finds it missed something; relist on 410. Failures
/// back off exponentially with jitter. The last good view stays in place throughout.
/// </summary>
internal sealed partial class NamespaceWatcher : IDisposable
{
    private static readonly TimeSpan DeadlineGrace = TimeSpan.FromSeconds(30);

    private readonly SliceApi _api;
    private readonly KubernetesDiscoveryOptions _options;
    private readonly TimeProvider _time;
    private readonly KubernetesDiscoveryMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Random _random;
    private readonly DiscoveryLoopHooks _hooks;
    private readonly Backoff _backoff;
    private readonly SemaphoreSlim _listGate = new(1, 1);
    private readonly HashSet<string> _loggedMalformed = new(StringComparer.Ordinal);
    private readonly Lock _malformedLock = new();
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource? _session;
    private long _sessionId;
    private long _establishedSession = -1;
    private TaskCompletionSource _established = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _requestedRestart; // 0, or a WatchRestartCause + 1
    private int _relistRequested;
    private volatile Following _following;
    private volatile Following? _listed;
    private readonly Action<string> _listedCallback;
    private long _lastLine;
    private long _lastList;
    private long _lastActivity;
    private long _linesRead;
    private TaskCompletionSource _lineRead = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public NamespaceWatcher(
        string ns, IReadOnlyCollection<string>? services, SliceApi api, KubernetesDiscoveryOptions options, TimeProvider time,
        KubernetesDiscoveryMetrics metrics, ILogger logger, Random random, DiscoveryLoopHooks hooks, Action<string, string> serviceChanged,
        Action<string> listed)
    {
        Namespace = ns;
        _following = new Following(services);
        _listedCallback = listed;
        _api = api;
        _options = options;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _random = random;
        _hooks = hooks;
        _backoff = new Backoff(options.BackoffInitial, options.BackoffMax, options.BackoffResetAfter, time, random);
        View = new NamespaceView(service => serviceChanged(ns, service));
        _lastActivity = time.GetTimestamp();
    }

    public string Namespace { get; }

    /// <summary>Which slices lists and watches ask for: those of the followed Services, or every Service's.</summary>
    public string LabelSelector => _following.Selector;

    /// <summary>The Services followed; null when the whole namespace is.</summary>
    public IReadOnlyCollection<string>? Services => _following.Services;

    /// <summary>Whether the view holds what a list said of this Service: it was followed when the last list was made.</summary>
    public bool HasListed(string service) => _listed is { } listed && (listed.Services is null || listed.Services.Contains(service, StringComparer.Ordinal));

    public NamespaceView View { get; }

    /// <summary>Completes when the first list has been applied.</summary>
    public Task Synced => _synced.Task;

    /// <summary>
    /// The watch that is open now (accepted by the server and not told to end), or -1 while none is. A watch that a
    /// list, a confirmation or its deadline has ended counts as closed at once, before its loop has unwound: a
    /// confirmation begun in between must not take it for a watch that stayed open, and blame it for changes that only
    /// its successor could deliver.
    /// </summary>
    public long EstablishedSession =>
        Volatile.Read(ref _session) is { IsCancellationRequested: false } ? Volatile.Read(ref _establishedSession) : -1;

    /// <summary>Watch lines read and applied so far (for tests).</summary>
    internal long LinesRead => Volatile.Read(ref _linesRead);

    /// <summary>Completes when the next watch line has been applied (for tests).</summary>
    internal Task NextLineAsync() => Volatile.Read(ref _lineRead).Task;

    /// <summary>Completes when the watch open at the call (or the next one) has ended (for tests).</summary>
    internal Task NextClosedAsync() => Volatile.Read(ref _closed).Task;

    /// <summary>Completes when a watch opened after the call is accepted by the server (for tests).</summary>
    internal Task NextEstablishedAsync() => Volatile.Read(ref _established).Task;

    public double SecondsSinceLastLine() => Age(Volatile.Read(ref _lastLine));

    public double SecondsSinceLastList() => Age(Volatile.Read(ref _lastList));

    /// <summary>Since the loop last did anything (an attempt, a line, a wait begun): the liveness heartbeat.</summary>
    public TimeSpan SinceLastActivity() => _time.GetElapsedTime(Volatile.Read(ref _lastActivity));

    /// <summary>
    /// Follows another set of Services from now on: the next list asks for their slices, and the loop lists at once
    /// (ending the open watch), so a newly followed Service is published as soon as that list lands.
    /// </summary>
    public void Follow(IReadOnlyCollection<string>? services)
    {
        _following = new Following(services);
        Interlocked.Exchange(ref _relistRequested, 1);
        RestartWatch(WatchRestartCause.Superseded);
    }

    /// <summary>The Services followed and the label selector that asks for them, swapped together.</summary>
    private sealed class Following(IReadOnlyCollection<string>? services)
    {
        public IReadOnlyCollection<string>? Services { get; } = services;

        public string Selector { get; } = services is null
            ? SliceReader.ServiceNameLabel
            : $"{SliceReader.ServiceNameLabel} in ({string.Join(",", services.Order(StringComparer.Ordinal))})";
    }

    public async Task RunAsync(CancellationToken stop)
    {
        var relist = true;
        while (!stop.IsCancellationRequested)
        {
            Beat();
            relist |= Interlocked.Exchange(ref _relistRequested, 0) == 1;
            try
            {
                await _hooks.BeforeAttemptAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }

            if (relist || View.Epoch == 0)
            {
                try
                {
                    await ListAsync(stop).ConfigureAwait(false);
                    relist = false;
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (!stop.IsCancellationRequested)
                {
                    // An API failure, or an answer that could not be read at all: the last good view stays.
                    var delay = _backoff.NextDelay();
                    LogListFailed(_logger, Namespace, Describe(e), delay.TotalSeconds);
                    await DelayAsync(delay, stop).ConfigureAwait(false);
                    continue;
                }
            }

            WatchRestartCause? cause;
            try
            {
                cause = await WatchOnceAsync(stop).ConfigureAwait(false);
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                // A defect, not an API failure: self-heal (log, back off, relist) rather than let the loop end.
                var delay = _backoff.NextDelay();
                LogUnexpected(_logger, Namespace, delay.TotalSeconds, e);
                relist = true;
                await DelayAsync(delay, stop).ConfigureAwait(false);
                continue;
            }

            if (cause is null)
            {
                return; // stopping
            }

            _metrics.Restart(Namespace, cause.Value);
            switch (cause.Value)
            {
                case WatchRestartCause.Timeout or WatchRestartCause.Superseded:
                    // The server's normal end of a watch, or a list that replaced the view: resume at once, quietly.
                    LogWatchResumed(_logger, Namespace, cause.Value);
                    break;
                case WatchRestartCause.Expired or WatchRestartCause.Error:
                    // Back off either way. After a 410 the version is gone and only a relist can resync; after an
                    // error the watch resumes from the last version (the server answers 410 if it cannot).
                    var delay = _backoff.NextDelay();
                    LogWatchRestart(_logger, Namespace, cause.Value, delay.TotalSeconds);
                    relist = cause == WatchRestartCause.Expired;
                    await DelayAsync(delay, stop).ConfigureAwait(false);
                    break;
                default:
                    LogWatchRestart(_logger, Namespace, cause.Value, 0);
                    break;
            }
        }
    }

    /// <summary>
    /// Lists the namespace's slices and replaces the view with them (one list at a time, so an older list never
    /// lands after a newer one). Unreadable items are skipped, logged and counted; the rest are applied.
    /// </summary>
    /// <returns>The list as the server sent it.</returns>
    public async Task<SliceList> ListAsync(CancellationToken stop, WatchRestartCause restartCause = WatchRestartCause.Superseded)
    {
        Beat();
        await _listGate.WaitAsync(stop).ConfigureAwait(false);
        try
        {
            using var timeout = new CancellationTokenSource(_options.ListTimeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token);
            var following = _following;
            var list = await _api.ListAsync(Namespace, following.Selector, metadataOnly: false, linked.Token).ConfigureAwait(false);

            // The connection works from the moment the list arrived, before anything it holds is published: counted
            // from later, a healthy stretch would look shorter than it was to whoever saw the endpoints appear.
            _backoff.Healthy();

            var slices = new List<SliceSnapshot>(list.Items.Count);
            var seen = new Dictionary<string, string?>(StringComparer.Ordinal);
            var keep = new HashSet<string>(StringComparer.Ordinal);
            foreach (var item in list.Items)
            {
                if (item.Name is { } name)
                {
                    seen[name] = item.ResourceVersion;
                }

                var error = item.Error ?? "";
                if (item.Error is null && SliceReader.TryRead(item.Object, out var slice, out error))
                {
                    slices.Add(slice);
                    Readable(slice.Name);
                }
                else
                {
                    Malformed(item.Name, error);
                    if (item.Name is { } bad)
                    {
                        keep.Add(bad);
                    }
                }
            }

            var (_, announce) = View.ReplaceAll(slices, seen, keep, list.ResourceVersion);
            _metrics.Relisted(Namespace);
            _listed = following;
            announce();

            // A list confirms every Service it covers, those without slices too (no endpoints is a fact to publish);
            // and a Service followed since the previous list is published for the first time.
            _listedCallback(Namespace);
            Volatile.Write(ref _lastList, _time.GetTimestamp());
            _synced.TrySetResult();

            // A watch opened before this list may hold events older than it; it ends, and the next resumes from here.
            RestartWatch(restartCause);
            return list;
        }
        finally
        {
            _listGate.Release();
        }
    }

    /// <summary>Ends the open watch (if any); the loop opens the next at once, from the view's position.</summary>
    public void RestartWatch(WatchRestartCause cause)
    {
        var session = Volatile.Read(ref _session);
        if (session is null)
        {
            return;
        }

        Interlocked.CompareExchange(ref _requestedRestart, (int)cause + 1, 0);
        CancelQuietly(session);
    }

    /// <summary>
    /// Ends a watch from another loop's thread. Cancellation runs the watch's callbacks (closing its response) on the
    /// caller; whatever they throw belongs to the watch, which ends either way, not to the caller.
    /// </summary>
    private static void CancelQuietly(CancellationTokenSource session)
    {
        try
        {
            session.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // That watch has just ended on its own.
        }
        catch (AggregateException)
        {
            // A callback of the ending watch failed; the watch ends regardless.
        }
    }

    /// <summary>One watch, until it ends; returns why, or null when stopping.</summary>
    /// <remarks>
    /// Items are read into <see cref="V1EndpointSlice"/> by reflection, and nothing else references that type's
    /// constructors and setters: a trimmed (NativeAOT) build would drop them, and every line would read as malformed.
    /// </remarks>
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicProperties, typeof(V1EndpointSlice))]
    private async Task<WatchRestartCause?> WatchOnceAsync(CancellationToken stop)
    {
        var (epoch, version) = View.Position;
        var serverTimeout = _options.WatchTimeoutMin + ((_options.WatchTimeoutMax - _options.WatchTimeoutMin) * _random.NextDouble());

        // No HTTP timeout applies to a watch's body: without a deadline of our own, a connection that hangs after the
        // headers would hang forever.
        using var deadline = new CancellationTokenSource(serverTimeout + DeadlineGrace, _time);
        using var session = CancellationTokenSource.CreateLinkedTokenSource(stop, deadline.Token);
        var id = Interlocked.Increment(ref _sessionId);
        Volatile.Write(ref _requestedRestart, 0);
        Interlocked.Exchange(ref _session, session);
        if (Volatile.Read(ref _relistRequested) == 1)
        {
            // Follow asked for a list while this loop was listing or about to watch (it found no watch to end): the
            // full fences on both sides mean one of the two always sees the other.
            Interlocked.CompareExchange(ref _session, null, session);
            return WatchRestartCause.Superseded;
        }

        Line(current: false);
        var started = _time.GetTimestamp();
        using var watchdog = new IdleWatchdog(this, session);
        try
        {
            var lines = _api.WatchAsync(Namespace, LabelSelector, version, (int)serverTimeout.TotalSeconds, () => Established(id), session.Token);
            await foreach (var line in lines.ConfigureAwait(false))
            {
                Line(current: line.Kind != WatchLineKind.Error);
                var ended = Apply(epoch, line);
                if (ended is not null)
                {
                    // A line that ends the watch (410, an error status) ends it now, not when the loop unwinds: a
                    // confirmation must not take a watch that has already failed for one that is open and silent.
                    Volatile.Write(ref _establishedSession, -1);
                }

                Interlocked.Increment(ref _linesRead);
                Interlocked.Exchange(ref _lineRead, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                if (ended is not null)
                {
                    return ended;
                }
            }

            return WatchRestartCause.Timeout;
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception) when (session.IsCancellationRequested)
        {
            // Ended by us: a confirmation or a list asked for it, the idle watchdog fired, or the deadline passed.
            var requested = Volatile.Read(ref _requestedRestart);
            return requested != 0 ? (WatchRestartCause)(requested - 1)
                : watchdog.Fired ? WatchRestartCause.Idle
                : WatchRestartCause.Deadline;
        }
        catch (ApiStatusException e) when (e.Status == HttpStatusCode.Gone)
        {
            return WatchRestartCause.Expired;
        }
        catch (Exception e) when (IsApiFailure(e))
        {
            LogWatchFailed(_logger, Namespace, Describe(e), _time.GetElapsedTime(started).TotalSeconds);
            return WatchRestartCause.Error;
        }
        finally
        {
            Volatile.Write(ref _establishedSession, -1);
            Interlocked.CompareExchange(ref _session, null, session);
            Interlocked.Exchange(ref _closed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }

    /// <summary>Applies one line; returns a cause when the watch must end.</summary>
    private WatchRestartCause? Apply(int epoch, WatchLine line)
    {
        _metrics.Event(Namespace, line.Kind switch
        {
            WatchLineKind.Added => "added",
            WatchLineKind.Modified => "modified",
            WatchLineKind.Deleted => "deleted",
            WatchLineKind.Bookmark => "bookmark",
            WatchLineKind.Error => "error",
            _ => "unreadable",
        });
        if (View.Epoch != epoch)
        {
            return WatchRestartCause.Superseded; // a list replaced the view since this watch began
        }

        switch (line.Kind)
        {
            case WatchLineKind.Added or WatchLineKind.Modified:
                var item = line.Item!;
                var error = item.Error ?? "";
                if (item.Error is null && SliceReader.TryRead(item.Object, out var snapshot, out error))
                {
                    View.Upsert(epoch, snapshot, item.ResourceVersion);
                    Readable(snapshot.Name);
                }
                else
                {
                    // Skipped: the slice's previous good version (if any) stays.
                    Malformed(item.Name, error);
                    if (item.Name is { } name)
                    {
                        View.SeenUnreadable(epoch, name, item.ResourceVersion);
                    }
                }

                break;
            case WatchLineKind.Deleted:
                if (line.Item!.Name is { } deleted)
                {
                    View.Remove(epoch, deleted, line.Item.ResourceVersion);
                }
                else
                {
                    Malformed(null, line.Item.Error ?? "a DELETED event names no object");
                }

                break;
            case WatchLineKind.Bookmark:
                View.AdvanceTo(epoch, line.ResourceVersion);
                break;
            case WatchLineKind.Error when line.Code == (int)HttpStatusCode.Gone:
                return WatchRestartCause.Expired;
            case WatchLineKind.Error:
                LogWatchError(_logger, Namespace, line.Code, line.Message ?? "");
                return WatchRestartCause.Error;
            case WatchLineKind.Unreadable:
                Malformed(null, line.Message ?? "an unreadable watch line");
                break;
        }

        return null;
    }

    private void Established(long session)
    {
        Volatile.Write(ref _establishedSession, session);
        Interlocked.Exchange(ref _established, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    private void Line(bool current)
    {
        var now = _time.GetTimestamp();
        Volatile.Write(ref _lastLine, now);
        Volatile.Write(ref _lastActivity, now);
        if (current)
        {
            _backoff.Healthy();
        }
    }

    private void Beat() => Volatile.Write(ref _lastActivity, _time.GetTimestamp());

    private void Readable(string name)
    {
        lock (_malformedLock)
        {
            _loggedMalformed.Remove(name);
        }
    }

    private void Malformed(string? name, string error)
    {
        _metrics.Malformed(Namespace);

        // Once per object until it becomes valid again, so a storm of bad updates cannot flood the log.
        var key = name ?? error;
        bool log;
        lock (_malformedLock)
        {
            log = _loggedMalformed.Count < 10_000 && _loggedMalformed.Add(key);
        }

        if (log)
        {
            LogMalformed(_logger, Namespace, error);
        }
    }

    /// <summary>Raised when the watcher starts waiting out a backoff delay (for tests that drive the clock).</summary>
    internal event Action<TimeSpan>? BackingOff;

    private async Task DelayAsync(TimeSpan delay, CancellationToken stop)
    {
        Beat();
        try
        {
            // The timer exists before anyone hears of the wait, so a test may advance its clock at once.
            var wait = Task.Delay(delay, _time, stop);
            BackingOff?.Invoke(delay);
            await wait.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private double Age(long timestamp) => timestamp == 0 ? double.PositiveInfinity : _time.GetElapsedTime(timestamp).TotalSeconds;

    internal static bool IsApiFailure(Exception e) =>
        e is ApiStatusException or HttpRequestException or IOException or OperationCanceledException or JsonException;

    internal static string Describe(Exception e) => e switch
    {
        ApiStatusException status => status.Message,
        OperationCanceledException => "timed out",
        HttpRequestException { InnerException: { } inner } http => $"{http.Message} {inner.Message}",
        _ => e.Message,
    };

    /// <summary>
    /// Ends a watch that delivers no line for <see cref="KubernetesDiscoveryOptions.WatchIdleTimeout"/>. One timer,
    /// re-armed for exactly the time left after each line, so it fires at the bound rather than up to a check
    /// period after it.
    /// </summary>
    private sealed class IdleWatchdog : IDisposable
    {
        private readonly NamespaceWatcher _watcher;
        private readonly CancellationTokenSource _session;
        private readonly ITimer _timer;
        private int _fired;

        public IdleWatchdog(NamespaceWatcher watcher, CancellationTokenSource session)
        {
            _watcher = watcher;
            _session = session;
            _timer = watcher._time.CreateTimer(static state => ((IdleWatchdog)state!).Check(), this, watcher._options.WatchIdleTimeout, Timeout.InfiniteTimeSpan);
        }

        public bool Fired => Volatile.Read(ref _fired) != 0;

        private void Check()
        {
            var idle = _watcher._time.GetElapsedTime(Volatile.Read(ref _watcher._lastLine));
            var left = _watcher._options.WatchIdleTimeout - idle;
            if (left > TimeSpan.Zero)
            {
                _timer.Change(left, Timeout.InfiniteTimeSpan);
                return;
            }

            Volatile.Write(ref _fired, 1);
            CancelQuietly(_session);
        }

        public void Dispose() => _timer.Dispose();
    }

    public void Dispose() => _listGate.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listing EndpointSlices in {Namespace} failed ({Reason}); the last good endpoints stay in use; retrying in {DelaySeconds:0.0} s.")]
    private static partial void LogListFailed(ILogger logger, string @namespace, string reason, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The EndpointSlice watch in {Namespace} failed after {Seconds:0.0} s ({Reason}).")]
    private static partial void LogWatchFailed(ILogger logger, string @namespace, string reason, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The EndpointSlice watch in {Namespace} sent an error status {Code}: {Message}.")]
    private static partial void LogWatchError(ILogger logger, string @namespace, int code, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Restarting the EndpointSlice watch in {Namespace} (cause: {Cause}) after {DelaySeconds:0.0} s.")]
    private static partial void LogWatchRestart(ILogger logger, string @namespace, WatchRestartCause cause, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Resuming the EndpointSlice watch in {Namespace} (cause: {Cause}).")]
    private static partial void LogWatchResumed(ILogger logger, string @namespace, WatchRestartCause cause);

    [LoggerMessage(Level = LogLevel.Error, Message = "The EndpointSlice watch loop of {Namespace} failed unexpectedly; relisting in {DelaySeconds:0.0} s.")]
    private static partial void LogUnexpected(ILogger logger, string @namespace, double delaySeconds, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Skipped a malformed object in {Namespace}: {Error}. The last good endpoints stay in use.")]
    private static partial void LogMalformed(ILogger logger, string @namespace, string error);
}
