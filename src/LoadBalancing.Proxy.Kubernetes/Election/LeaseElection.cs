using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Kubernetes.Election;

/// <summary>
/// Leader election through a coordination.k8s.io/v1 Lease, with client-go's rules: take the lease when it is absent,
/// has no holder, or has not changed for its lease duration as observed by this replica's own clock (robust to clock
/// skew between nodes); renew every retry period; stop leading when no renew succeeded within the renew deadline;
/// release on a graceful stop. Every write carries the resource version read, so a 409 means someone else wrote first
/// and the lease is read again, never overwritten. Every replica serves traffic; only the leader writes status.
/// </summary>
internal sealed partial class LeaseElection
{
    private readonly IKubernetes _client;
    private readonly LeaseElectionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    // The last record seen and when (our timestamp) it was first seen in that form: client-go's observedRecord/observedTime.
    private LeaseRecord? _observed;
    private long _observedAt;

    // The lease as we last read or wrote it: a release writes over exactly this version.
    private V1Lease? _lease;

    private volatile bool _leading;
    private long _renewedAt;

    public LeaseElection(IKubernetes client, LeaseElectionOptions options, TimeProvider time, ILogger<LeaseElection> logger)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        options.ThrowIfInvalid();
        _client = client;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>
    /// Whether this replica leads now: it acquired or renewed the lease less than the renew deadline ago. Turns false
    /// the moment the deadline passes, even before the loop notices and raises <see cref="LeadershipChanged"/>.
    /// </summary>
    public bool IsLeader => _leading && _time.GetElapsedTime(Volatile.Read(ref _renewedAt)) < _options.RenewDeadline;

    /// <summary>Raised on the election loop when this replica starts (true) or stops (false) leading.</summary>
    public event Action<bool>? LeadershipChanged;

    /// <summary>Tests: called after every attempt with its outcome, once the wait for the next attempt has started.</summary>
    internal Action<bool>? AttemptCompleted { get; set; }

    /// <summary>
    /// Competes for the lease, then renews it while leading, until <paramref name="stop"/>; then releases it (unless
    /// <see cref="LeaseElectionOptions.ReleaseOnStop"/> is false) and completes. Never throws for API failures.
    /// </summary>
    public async Task RunAsync(CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var acquired = await AttemptAsync(stop).ConfigureAwait(false);
                if (acquired)
                {
                    Volatile.Write(ref _renewedAt, _time.GetTimestamp());
                    SetLeading(true);
                }
                else if (_leading && _observed is { HolderIdentity: { Length: > 0 } holder } && holder != _options.Identity)
                {
                    // Someone else holds it now (we were cut off longer than they waited): stop at once, not at the deadline.
                    LogTaken(_logger, _options.Namespace, _options.Name, holder);
                    SetLeading(false);
                }
                else if (_leading && _time.GetElapsedTime(Volatile.Read(ref _renewedAt)) >= _options.RenewDeadline)
                {
                    LogLost(_logger, _options.Namespace, _options.Name, _options.Identity, _options.RenewDeadline.TotalSeconds);
                    SetLeading(false);
                }

                // The wait starts before tests hear of the attempt, so time they advance next is never lost.
                var next = Task.Delay(_options.RetryPeriod, _time, stop);
                AttemptCompleted?.Invoke(acquired);
                await next.ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopping.
        }
        finally
        {
            if (_leading)
            {
                if (_options.ReleaseOnStop)
                {
                    await ReleaseAsync().ConfigureAwait(false);
                }

                SetLeading(false);
            }
        }
    }

    /// <summary>One try, bounded by what is left of the renew deadline (a leader) or by the whole deadline (a candidate).</summary>
    private async Task<bool> AttemptAsync(CancellationToken stop)
    {
        var budget = _leading ? _options.RenewDeadline - _time.GetElapsedTime(Volatile.Read(ref _renewedAt)) : _options.RenewDeadline;
        if (budget <= TimeSpan.Zero)
        {
            return false;
        }

        using var timeout = new CancellationTokenSource(budget, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token);
        try
        {
            return await TryAcquireOrRenewAsync(linked.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (!stop.IsCancellationRequested && IsApiFailure(e))
        {
            if (_leading)
            {
                LogRenewFailed(_logger, _options.Namespace, _options.Name, e);
            }
            else
            {
                LogAcquireFailed(_logger, _options.Namespace, _options.Name, e);
            }

            return false;
        }
    }

    private void SetLeading(bool leading)
    {
        if (_leading == leading)
        {
            return;
        }

        _leading = leading;
        if (leading)
        {
            LogAcquired(_logger, _options.Namespace, _options.Name, _options.Identity);
        }

        try
        {
            LeadershipChanged?.Invoke(leading);
        }
        catch (Exception e)
        {
            // A subscriber's defect must not stop the election (or leave a stopped leader believing it leads).
            LogHandlerFailed(_logger, e);
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Acquired the lease {Namespace}/{Name} as {Identity}: this replica now leads and writes status.")]
    private static partial void LogAcquired(ILogger logger, string @namespace, string name, string identity);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Lost the lease {Namespace}/{Name} as {Identity}: no renew succeeded within {DeadlineSeconds} s; this replica stops writing status.")]
    private static partial void LogLost(ILogger logger, string @namespace, string name, string identity, double deadlineSeconds);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Released the lease {Namespace}/{Name} as {Identity}: another replica can take over at once.")]
    private static partial void LogReleased(ILogger logger, string @namespace, string name, string identity);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Could not release the lease {Namespace}/{Name}; others take over once it expires.")]
    private static partial void LogReleaseFailed(ILogger logger, string @namespace, string name, Exception exception);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Renewing the lease {Namespace}/{Name} failed; retrying until the renew deadline.")]
    private static partial void LogRenewFailed(ILogger logger, string @namespace, string name, Exception exception);

    [LoggerMessage(EventId = 6, Level = LogLevel.Debug, Message = "Trying to acquire the lease {Namespace}/{Name} failed; retrying.")]
    private static partial void LogAcquireFailed(ILogger logger, string @namespace, string name, Exception exception);

    [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "Lost the lease {Namespace}/{Name}: {Holder} holds it now; this replica stops writing status.")]
    private static partial void LogTaken(ILogger logger, string @namespace, string name, string holder);

    [LoggerMessage(EventId = 7, Level = LogLevel.Error, Message = "A leadership change handler threw.")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception);
}
