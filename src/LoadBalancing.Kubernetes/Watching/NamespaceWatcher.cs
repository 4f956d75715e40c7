using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;
using LoadBalancing.Kubernetes.Diagnostics;
using LoadBalancing.Kubernetes.Slices;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Kubernetes.Watching;

/// <summary>
/// Keeps one namespace's view of EndpointSlices current: list, then watch from the list's resourceVersion
/// (advancing it on every event and bookmark); restart the watch when the server ends it, when it goes idle,
/// at a client-side deadline, or on an error; relist on 410 and periodically, correcting drift. Failures back
/// off exponentially with jitter. The last good view stays in place throughout.
/// </summary>
internal sealed partial class NamespaceWatcher
{
    private static readonly TimeSpan DeadlineGrace = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ConfirmEvery = TimeSpan.FromSeconds(1);

    private readonly IKubernetes _client;
    private readonly KubernetesDiscoveryOptions _options;
    private readonly TimeProvider _time;
    private readonly KubernetesDiscoveryMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Random _random;
    private readonly Action _confirmSources;
    private readonly Backoff _backoff;
    private readonly HashSet<string> _loggedMalformed = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lastLine;
    private long _lastEvent;
    private long _lastList;
    private long _lastConfirm;

    public NamespaceWatcher(
        string ns, IReadOnlyCollection<string>? services, IKubernetes client, KubernetesDiscoveryOptions options, TimeProvider time,
        KubernetesDiscoveryMetrics metrics, ILogger logger, Random random, Action<string, string> serviceChanged, Action confirmSources)
    {
        Namespace = ns;
        LabelSelector = services is null
            ? SliceReader.ServiceNameLabel
            : $"{SliceReader.ServiceNameLabel} in ({string.Join(",", services.Order(StringComparer.Ordinal))})";
        _client = client;
        _options = options;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _random = random;
        _confirmSources = confirmSources;
        _backoff = new Backoff(options.BackoffInitial, options.BackoffMax, options.BackoffResetAfter, time, random);
        View = new NamespaceView(service => serviceChanged(ns, service));
    }

    public string Namespace { get; }

    public string LabelSelector { get; }

    public NamespaceView View { get; }

    /// <summary>Completes when the first list has been applied.</summary>
    public Task Synced => _synced.Task;

    /// <summary>The resource version the next watch starts from.</summary>
    public string? ResourceVersion { get; private set; }

    public double SecondsSinceLastLine() => Age(Volatile.Read(ref _lastLine));

    public double SecondsSinceLastList() => Age(Volatile.Read(ref _lastList));

    /// <summary>
    /// Since the view was last known current: the later of the last event or bookmark and the last list. Error
    /// lines count for the idle watchdog (the connection is alive) but not here (they prove nothing about the view).
    /// </summary>
    public TimeSpan ViewAge()
    {
        var latest = Math.Max(Volatile.Read(ref _lastEvent), Volatile.Read(ref _lastList));
        return latest == 0 ? TimeSpan.MaxValue : _time.GetElapsedTime(latest);
    }

    public async Task RunAsync(CancellationToken stop)
    {
        var initial = true;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                ResourceVersion = await ListAsync(initial, stop).ConfigureAwait(false);
                initial = false;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException or OperationCanceledException or JsonException or KubernetesException)
            {
                var delay = _backoff.NextDelay();
                LogListFailed(_logger, Namespace, Describe(e), delay.TotalSeconds);
                await DelayAsync(delay, stop).ConfigureAwait(false);
                continue;
            }

            var relistAt = _time.GetTimestamp() + (long)(_options.RelistInterval.TotalSeconds * _time.TimestampFrequency);
            while (!stop.IsCancellationRequested && _time.GetTimestamp() < relistAt)
            {
                var cause = await WatchOnceAsync(relistAt, stop).ConfigureAwait(false);
                if (cause is null)
                {
                    break; // the periodic relist is due (or we are stopping)
                }

                _metrics.Restart(Namespace, cause.Value);
                if (cause is WatchRestartCause.Expired or WatchRestartCause.Error)
                {
                    // Back off either way. After a 410 the version is gone and only a relist can resync; after
                    // an error the watch resumes from the last version (the server answers 410 if it cannot).
                    var delay = _backoff.NextDelay();
                    LogWatchRestart(_logger, Namespace, cause.Value, delay.TotalSeconds);
                    await DelayAsync(delay, stop).ConfigureAwait(false);
                    if (cause is WatchRestartCause.Expired)
                    {
                        break;
                    }

                    continue;
                }

                LogWatchRestart(_logger, Namespace, cause.Value, 0);
            }
        }
    }

    private async Task<string?> ListAsync(bool initial, CancellationToken stop)
    {
        using var timeout = new CancellationTokenSource(_options.ListTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token);
        var list = await _client.DiscoveryV1.ListNamespacedEndpointSliceAsync(Namespace, labelSelector: LabelSelector, cancellationToken: linked.Token).ConfigureAwait(false);

        var slices = new List<SliceSnapshot>(list.Items?.Count ?? 0);
        var malformed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in list.Items ?? [])
        {
            if (SliceReader.TryRead(item, out var slice, out var error))
            {
                slices.Add(slice);
                _loggedMalformed.Remove(slice.Name);
            }
            else
            {
                Malformed(item?.Metadata?.Name, error);
                if (item?.Metadata?.Name is { } name)
                {
                    malformed.Add(name);
                }
            }
        }

        var (differences, announce) = View.ReplaceAll(slices, malformed);
        if (!initial && differences > 0)
        {
            _metrics.Drift(Namespace, differences);
            LogDrift(_logger, Namespace, differences);
        }

        _metrics.Relisted(Namespace);
        announce();
        Volatile.Write(ref _lastList, _time.GetTimestamp());
        _backoff.Healthy();
        Confirm(force: true);
        _synced.TrySetResult();
        return list.Metadata?.ResourceVersion;
    }

    /// <summary>One watch, until it ends; returns why, or null when the periodic relist is due.</summary>
    /// <remarks>
    /// KubernetesClient reads each watch line by reflection into a <c>Watcher&lt;T&gt;.WatchEvent</c> (and first, to
    /// look for a Status, into one of <see cref="KubernetesObject"/>), and nothing else references those types'
    /// constructors and setters: a trimmed (NativeAOT) build drops them, and every line then fails to deserialize.
    /// The dependencies keep them.
    /// </remarks>
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicProperties, typeof(Watcher<V1EndpointSlice>.WatchEvent))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicProperties, typeof(Watcher<KubernetesObject>.WatchEvent))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicProperties, typeof(KubernetesObject))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicProperties, typeof(V1Status))]
    private async Task<WatchRestartCause?> WatchOnceAsync(long relistAt, CancellationToken stop)
    {
        var serverTimeout = _options.WatchTimeoutMin + ((_options.WatchTimeoutMax - _options.WatchTimeoutMin) * _random.NextDouble());
        var untilRelist = TimeSpan.FromSeconds((relistAt - _time.GetTimestamp()) / (double)_time.TimestampFrequency);
        var deadlineIsRelist = untilRelist < serverTimeout + DeadlineGrace;

        // KubernetesClient sets no timeout on a watch: without a deadline of our own, a connection that hangs
        // after the headers would hang forever.
        using var deadline = new CancellationTokenSource(deadlineIsRelist ? untilRelist : serverTimeout + DeadlineGrace, _time);
        using var watchdog = new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, deadline.Token, watchdog.Token);
        var expired = false;
        var failed = false;
        Volatile.Write(ref _lastLine, _time.GetTimestamp());
        var started = _time.GetTimestamp();
        using var idleCheck = _time.CreateTimer(
            _ =>
            {
                if (_time.GetElapsedTime(Volatile.Read(ref _lastLine)) > _options.WatchIdleTimeout)
                {
                    watchdog.Cancel();
                }
            },
            null,
            _options.WatchIdleTimeout / 4,
            _options.WatchIdleTimeout / 4);

        void OnError(Exception e)
        {
            // KubernetesClient hands Status lines and unparsable lines only to this callback.
            Line(current: false);
            if (e is KubernetesException { Status.Code: (int)HttpStatusCode.Gone })
            {
                _metrics.Event(Namespace, "error");
                expired = true;
                linked.Cancel();
            }
            else if (e is KubernetesException status)
            {
                _metrics.Event(Namespace, "error");
                LogWatchError(_logger, Namespace, status.Status?.Code ?? 0, status.Status?.Message ?? status.Message);
                failed = true;
                linked.Cancel();
            }
            else
            {
                Malformed(null, "a watch line could not be read: " + e.Message);
            }
        }

        try
        {
            var events = _client.DiscoveryV1.WatchListNamespacedEndpointSliceAsync(
                Namespace,
                allowWatchBookmarks: true,
                labelSelector: LabelSelector,
                resourceVersion: ResourceVersion,
                timeoutSeconds: (int)serverTimeout.TotalSeconds,
                onError: OnError,
                cancellationToken: linked.Token);
            await foreach (var (type, slice) in events.ConfigureAwait(false))
            {
                Line(current: true);
                Apply(type, slice);
                if (slice?.Metadata?.ResourceVersion is { Length: > 0 } version)
                {
                    ResourceVersion = version;
                }
            }

            return WatchRestartCause.Timeout;
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            return expired ? WatchRestartCause.Expired
                : failed ? WatchRestartCause.Error
                : watchdog.IsCancellationRequested ? WatchRestartCause.Idle
                : deadlineIsRelist ? null
                : WatchRestartCause.Deadline;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (HttpOperationException e) when (e.Response?.StatusCode == HttpStatusCode.Gone)
        {
            return WatchRestartCause.Expired;
        }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException or JsonException or KubernetesException)
        {
            LogWatchFailed(_logger, Namespace, Describe(e), _time.GetElapsedTime(started).TotalSeconds);
            return WatchRestartCause.Error;
        }
    }

    private void Apply(WatchEventType type, V1EndpointSlice? slice)
    {
        _metrics.Event(Namespace, type.ToString().ToLowerInvariant());
        switch (type)
        {
            case WatchEventType.Added or WatchEventType.Modified:
                if (SliceReader.TryRead(slice, out var snapshot, out var error))
                {
                    View.Upsert(snapshot);
                    _loggedMalformed.Remove(snapshot.Name);
                }
                else
                {
                    // Skipped: the slice's previous good version (if any) stays.
                    Malformed(slice?.Metadata?.Name, error);
                }

                break;
            case WatchEventType.Deleted:
                if (slice?.Metadata?.Name is { } name)
                {
                    View.Remove(name);
                }

                break;
        }
    }

    private void Line(bool current)
    {
        var now = _time.GetTimestamp();
        Volatile.Write(ref _lastLine, now);
        if (current)
        {
            Volatile.Write(ref _lastEvent, now);
            _backoff.Healthy();
            Confirm(force: false);
        }
    }

    private void Confirm(bool force)
    {
        var now = _time.GetTimestamp();
        var last = Volatile.Read(ref _lastConfirm);
        if (force || last == 0 || _time.GetElapsedTime(last, now) >= ConfirmEvery)
        {
            Volatile.Write(ref _lastConfirm, now);
            _confirmSources();
        }
    }

    private void Malformed(string? name, string error)
    {
        _metrics.Malformed(Namespace);

        // Once per object until it becomes valid again, so a storm of bad updates cannot flood the log.
        var key = name ?? error;
        if (_loggedMalformed.Count < 10_000 && _loggedMalformed.Add(key))
        {
            LogMalformed(_logger, Namespace, error);
        }
    }

    /// <summary>Raised when the watcher starts waiting out a backoff delay (for tests that drive the clock).</summary>
    internal event Action<TimeSpan>? BackingOff;

    private async Task DelayAsync(TimeSpan delay, CancellationToken stop)
    {
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

    private static string Describe(Exception e) => e switch
    {
        HttpOperationException http => $"HTTP {(int?)http.Response?.StatusCode} {http.Response?.ReasonPhrase}",
        OperationCanceledException => "timed out",
        _ => e.Message,
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listing EndpointSlices in {Namespace} failed ({Reason}); the last good endpoints stay in use; retrying in {DelaySeconds:0.0} s.")]
    private static partial void LogListFailed(ILogger logger, string @namespace, string reason, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The EndpointSlice watch in {Namespace} failed after {Seconds:0.0} s ({Reason}).")]
    private static partial void LogWatchFailed(ILogger logger, string @namespace, string reason, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The EndpointSlice watch in {Namespace} sent an error status {Code}: {Message}.")]
    private static partial void LogWatchError(ILogger logger, string @namespace, int code, string message);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Restarting the EndpointSlice watch in {Namespace} (cause: {Cause}) after {DelaySeconds:0.0} s.")]
    private static partial void LogWatchRestart(ILogger logger, string @namespace, WatchRestartCause cause, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A relist of {Namespace} found {Slices} EndpointSlice(s) different from the watched view; corrected.")]
    private static partial void LogDrift(ILogger logger, string @namespace, int slices);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Skipped a malformed object in {Namespace}: {Error}. The last good endpoints stay in use.")]
    private static partial void LogMalformed(ILogger logger, string @namespace, string error);
}
