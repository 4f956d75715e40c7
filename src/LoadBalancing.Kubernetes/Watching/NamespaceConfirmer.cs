using LoadBalancing.Kubernetes.Diagnostics;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Kubernetes.Watching;

/// <summary>
/// Confirms one namespace's view against the API server every <see cref="KubernetesDiscoveryOptions.ConfirmInterval"/>,
/// independently of the watch: a consistent, metadata-only list of the watched slices, compared by name and resource
/// version with what the view has processed. A watch being open proves nothing; this does.
/// </summary>
/// <remarks>
/// A difference the watch has not made up within <see cref="KubernetesDiscoveryOptions.ConfirmGrace"/> is applied at
/// once from a full list. If the same watch was open all along, it missed those changes: that, and only that, is
/// drift (logged at Warning with what differed, counted, and the watch restarted). If the watch was reconnecting, the
/// list only got there first. The outcome of every attempt is reported to the namespace's endpoint sources, so that
/// readiness can tell a control plane that cannot be reached (every replica alike: keep serving) from a replica that
/// cannot converge although the API server answers (this replica alone: let traffic move).
/// </remarks>
internal sealed partial class NamespaceConfirmer
{
    private static readonly TimeSpan FailureRetryMin = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan FailureRetryMax = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan WarningEvery = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan PublishBound = TimeSpan.FromSeconds(5);

    private readonly NamespaceWatcher _watcher;
    private readonly SliceApi _api;
    private readonly KubernetesDiscoveryOptions _options;
    private readonly TimeProvider _time;
    private readonly KubernetesDiscoveryMetrics _metrics;
    private readonly ILogger _logger;
    private readonly DiscoveryLoopHooks _hooks;
    private readonly Func<CancellationToken, Task> _published;
    private readonly Action<ConfirmationProblem> _report;
    private readonly Backoff _backoff;
    private long _lastConfirmed;
    private long _lastAttempt;
    private long _lastWarning;
    private int _suppressedWarnings;
    private int _problem;
    private bool _staleAnnounced;
    private long _waitingUntil;
    private int _inGrace;
    private long _publisherWaitUntil;
    private TaskCompletionSource _nextPublisherWait = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _nextWait = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public NamespaceConfirmer(
        NamespaceWatcher watcher, SliceApi api, KubernetesDiscoveryOptions options, TimeProvider time, KubernetesDiscoveryMetrics metrics,
        ILogger logger, Random random, DiscoveryLoopHooks hooks, Func<CancellationToken, Task> published, Action<ConfirmationProblem> report)
    {
        _watcher = watcher;
        _api = api;
        _options = options;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _hooks = hooks;
        _published = published;
        _report = report;
        _backoff = new Backoff(FailureRetryMin, FailureRetryMax, TimeSpan.Zero, time, random);
        _lastAttempt = time.GetTimestamp();
    }

    /// <summary>Since the view was last confirmed; <see cref="TimeSpan.MaxValue"/> before the first confirmation.</summary>
    public TimeSpan ViewAge()
    {
        var last = Volatile.Read(ref _lastConfirmed);
        return last == 0 ? TimeSpan.MaxValue : _time.GetElapsedTime(last);
    }

    /// <summary>Why the latest attempt did not confirm the view.</summary>
    public ConfirmationProblem Problem => (ConfirmationProblem)Volatile.Read(ref _problem);

    /// <summary>Since this loop last began an attempt: the liveness heartbeat.</summary>
    public TimeSpan SinceLastAttempt() => _time.GetElapsedTime(Volatile.Read(ref _lastAttempt));

    public async Task RunAsync(CancellationToken stop)
    {
        try
        {
            await _watcher.Synced.WaitAsync(stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        // The first list confirmed the view once it reaches the sources.
        var delay = TimeSpan.Zero;
        try
        {
            await ConfirmSourcesAsync(_time.GetTimestamp(), stop).ConfigureAwait(false);
            delay = _options.ConfirmInterval;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return;
        }
        catch (NotConvergingException e)
        {
            Failed(ConfirmationProblem.NotConverging, e);
        }

        while (!stop.IsCancellationRequested)
        {
            Beat();
            try
            {
                await WaitAsync(delay, stop).ConfigureAwait(false);
                Beat();
                await _hooks.BeforeAttemptAsync(stop).ConfigureAwait(false);
                await ConfirmOnceAsync(stop).ConfigureAwait(false);
                _backoff.Healthy();
                delay = _options.ConfirmInterval;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                var problem = e is NotConvergingException ? ConfirmationProblem.NotConverging
                    : NamespaceWatcher.IsApiFailure(e) ? ConfirmationProblem.SourceUnreachable
                    : ConfirmationProblem.NotConverging;
                Failed(problem, e);

                // Quick retries (1 s doubling to 4 s, jittered) while unconfirmed: the view is confirmed within
                // seconds of a fault clearing, and a fleet that lost the API server does not return in step.
                delay = _backoff.NextDelay();
            }

            AnnounceStaleness();
        }
    }

    private async Task ConfirmOnceAsync(CancellationToken stop)
    {
        var started = _time.GetTimestamp();
        var session = _watcher.EstablishedSession;
        SliceList listed;
        using (var timeout = new CancellationTokenSource(_options.ListTimeout, _time))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token))
        {
            listed = await _api.ListAsync(_watcher.Namespace, _watcher.LabelSelector, metadataOnly: true, linked.Token).ConfigureAwait(false);
        }

        _metrics.ConfirmationRead(_watcher.Namespace, listed.Bytes);
        var versions = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var item in listed.Items)
        {
            if (item.Name is { } name)
            {
                versions[name] = item.ResourceVersion;
            }
        }

        var differences = _watcher.View.Compare(versions);
        if (differences.Count > 0 && session >= 0)
        {
            // Give the open watch its grace to deliver what the list already shows. With no watch open there is
            // nothing to wait for: the list applies it at once (after an outage, that is the recovery).
            Volatile.Write(ref _inGrace, 1);
            try
            {
                await WaitAsync(_options.ConfirmGrace, stop).ConfigureAwait(false);
            }
            finally
            {
                Volatile.Write(ref _inGrace, 0);
            }
        }

        if (differences.Count > 0)
        {
            var behind = _watcher.View.StillBehind(differences);
            if (behind.Count > 0)
            {
                var missed = session >= 0 && _watcher.EstablishedSession == session;
                Beat();

                // The view is now the relist's, which the server answered after this: confirmed as of here, not as of
                // the first list (after an outage that list may be seconds older than the view the relist gave).
                started = _time.GetTimestamp();
                await _watcher.ListAsync(stop, missed ? WatchRestartCause.Drift : WatchRestartCause.Superseded).ConfigureAwait(false);
                if (missed)
                {
                    _metrics.Drift(_watcher.Namespace, behind.Count);
                    _metrics.Confirmation(_watcher.Namespace, "drift");
                    LogDrift(_logger, _watcher.Namespace, behind.Count, _options.ConfirmGrace.TotalSeconds, Describe(behind));
                }
                else
                {
                    _metrics.Confirmation(_watcher.Namespace, "caught_up");
                    LogCaughtUp(_logger, _watcher.Namespace, behind.Count);
                }
            }
        }

        await ConfirmSourcesAsync(started, stop).ConfigureAwait(false);
        if (differences.Count == 0)
        {
            _metrics.Confirmation(_watcher.Namespace, "confirmed");
        }
    }

    /// <summary>
    /// Confirms the view as of <paramref name="asOf"/> once the publisher has handed it to the sources: a view that
    /// is right but never reaches the balancers is not converged.
    /// </summary>
    private async Task ConfirmSourcesAsync(long asOf, CancellationToken stop)
    {
        var published = _published(stop);
        if (!published.IsCompleted)
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(stop);
            var timeout = WaitAsync(PublishBound, bound.Token, advertise: false);
            if (await Task.WhenAny(published, timeout).ConfigureAwait(false) != published)
            {
                stop.ThrowIfCancellationRequested();
                throw new NotConvergingException($"the endpoint publisher has not published the view within {PublishBound.TotalSeconds:0} s");
            }

            await bound.CancelAsync().ConfigureAwait(false);
            await timeout.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
        }

        var unconfirmedFor = ViewAge();
        Volatile.Write(ref _lastConfirmed, asOf);
        var previous = (ConfirmationProblem)Interlocked.Exchange(ref _problem, (int)ConfirmationProblem.None);
        _report(ConfirmationProblem.None);
        if (previous != ConfirmationProblem.None || _staleAnnounced)
        {
            LogConfirmedAgain(_logger, _watcher.Namespace, unconfirmedFor == TimeSpan.MaxValue ? 0 : unconfirmedFor.TotalSeconds);
        }

        _staleAnnounced = false;
        _suppressedWarnings = 0;
    }

    private void Failed(ConfirmationProblem problem, Exception e)
    {
        _metrics.Confirmation(_watcher.Namespace, problem == ConfirmationProblem.SourceUnreachable ? "unreachable" : "not_converging");
        Volatile.Write(ref _problem, (int)problem);
        _report(problem);

        // One Warning per failure, at most one per 30 s: an outage of hours stays readable.
        var now = _time.GetTimestamp();
        var last = _lastWarning;
        if (last != 0 && _time.GetElapsedTime(last, now) < WarningEvery)
        {
            _suppressedWarnings++;
            return;
        }

        _lastWarning = now;
        var age = ViewAge();
        var reason = e is NotConvergingException ? e.Message : NamespaceWatcher.Describe(e);
        LogConfirmationFailed(
            _logger, _watcher.Namespace, reason, age == TimeSpan.MaxValue ? 0 : age.TotalSeconds, _suppressedWarnings,
            problem == ConfirmationProblem.SourceUnreachable ? "the API server could not be reached" : "the API server answers but this view does not converge");
        _suppressedWarnings = 0;
    }

    private void AnnounceStaleness()
    {
        var age = ViewAge();
        if (_staleAnnounced || age == TimeSpan.MaxValue || age <= _options.StaleAfter)
        {
            return;
        }

        _staleAnnounced = true;
        if (Problem == ConfirmationProblem.SourceUnreachable)
        {
            LogStaleUnreachable(_logger, _watcher.Namespace, age.TotalSeconds);
        }
        else
        {
            LogStaleNotConverging(_logger, _watcher.Namespace, age.TotalSeconds);
        }
    }

    /// <summary>When the wait the loop is in now ends (a clock timestamp), or 0 while it is not waiting: for tests that drive the clock.</summary>
    internal long WaitingUntil => Volatile.Read(ref _waitingUntil);

    /// <summary>Whether the loop is giving the watch its grace period (for tests that drive the clock).</summary>
    internal bool InGrace => Volatile.Read(ref _inGrace) != 0;

    /// <summary>When the loop's bound on the publisher ends, or 0 while it is not waiting for the publisher: for tests that drive the clock.</summary>
    internal long PublisherWaitUntil => Volatile.Read(ref _publisherWaitUntil);

    /// <summary>Completes when the loop next begins waiting for the publisher: for tests that drive the clock.</summary>
    internal Task NextPublisherWaitAsync() => Volatile.Read(ref _nextPublisherWait).Task;

    /// <summary>Completes when the loop next begins a wait: for tests that drive the clock.</summary>
    internal Task NextWaitAsync() => Volatile.Read(ref _nextWait).Task;

    /// <param name="delay">How long.</param>
    /// <param name="stop">Ends the wait.</param>
    /// <param name="advertise">
    /// Whether a test that drives the clock may advance it through this wait. A bound on work done elsewhere (the
    /// publisher) is not advertised: it must expire only when that work really is stuck, not when a test moves on.
    /// </param>
    private async Task WaitAsync(TimeSpan delay, CancellationToken stop, bool advertise = true)
    {
        // The timer exists before anyone hears of the wait, so a test may advance its clock at once.
        var wait = Task.Delay(delay, _time, stop);
        if (!advertise)
        {
            Volatile.Write(ref _publisherWaitUntil, _time.GetTimestamp() + (long)(delay.TotalSeconds * _time.TimestampFrequency));
            Interlocked.Exchange(ref _nextPublisherWait, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            try
            {
                await wait.ConfigureAwait(false);
            }
            finally
            {
                Volatile.Write(ref _publisherWaitUntil, 0);
            }

            return;
        }

        Volatile.Write(ref _waitingUntil, _time.GetTimestamp() + (long)(delay.TotalSeconds * _time.TimestampFrequency));
        Interlocked.Exchange(ref _nextWait, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        try
        {
            await wait.ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _waitingUntil, 0);
        }
    }

    private void Beat() => Volatile.Write(ref _lastAttempt, _time.GetTimestamp());

    private static string Describe(List<SliceDifference> differences) =>
        string.Join(", ", differences.Take(10)) + (differences.Count > 10 ? $" and {differences.Count - 10} more" : "");

    /// <summary>The API server answered, but the view could not be confirmed for a reason of this replica's own.</summary>
    private sealed class NotConvergingException(string message) : Exception(message);

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "The EndpointSlice watch in {Namespace} did not deliver {Count} change(s) within {GraceSeconds:0.#} s of the API server having them: {Differences}. Applied from a list; restarting the watch.")]
    private static partial void LogDrift(ILogger logger, string @namespace, int count, double graceSeconds, string differences);

    [LoggerMessage(EventId = 21, Level = LogLevel.Information, Message = "A confirmation of {Namespace} applied {Count} change(s) from a list while the watch was reconnecting.")]
    private static partial void LogCaughtUp(ILogger logger, string @namespace, int count);

    [LoggerMessage(EventId = 22, Level = LogLevel.Warning, Message = "Could not confirm the EndpointSlice view of {Namespace}: {Reason} ({Meaning}); last confirmed {AgeSeconds:0.0} s ago; {Suppressed} similar warning(s) suppressed. The last good endpoints stay in use.")]
    private static partial void LogConfirmationFailed(ILogger logger, string @namespace, string reason, double ageSeconds, int suppressed, string meaning);

    [LoggerMessage(EventId = 23, Level = LogLevel.Warning, Message = "The EndpointSlice view of {Namespace} is stale (unconfirmed for {AgeSeconds:0} s) because the API server cannot be reached: serving the last good endpoints, staying ready (every replica is in the same position), reporting Degraded.")]
    private static partial void LogStaleUnreachable(ILogger logger, string @namespace, double ageSeconds);

    [LoggerMessage(EventId = 24, Level = LogLevel.Warning, Message = "The EndpointSlice view of {Namespace} is stale (unconfirmed for {AgeSeconds:0} s) although the API server answers: this replica reports not ready so traffic moves to replicas whose view is current.")]
    private static partial void LogStaleNotConverging(ILogger logger, string @namespace, double ageSeconds);

    [LoggerMessage(EventId = 25, Level = LogLevel.Information, Message = "The EndpointSlice view of {Namespace} is confirmed again after {Seconds:0.0} s unconfirmed.")]
    private static partial void LogConfirmedAgain(ILogger logger, string @namespace, double seconds);
}
