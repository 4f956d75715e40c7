using LoadBalancing.Proxy.Kubernetes.Controller;
using LoadBalancing.Proxy.Kubernetes.Election;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Kubernetes.Status;

/// <summary>
/// Writes the status the controllers ask for, from one replica at a time: every replica serves traffic and computes
/// status, but only the holder of the Lease writes it (so replicas never fight over a condition's time). The latest
/// statuses of each controller are written whenever they change and whenever this replica becomes leader, and all
/// of them are checked again every <see cref="RecheckInterval"/>, which repairs status that someone else edited.
/// </summary>
internal sealed class StatusPublisher : IStatusSink
{
    /// <summary>How often every object's status is read and repaired even though nothing changed here.</summary>
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromMinutes(5);

    private readonly LeaseElection _election;
    private readonly StatusWriter _writer;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, IReadOnlyList<DesiredStatus>> _latest = new(StringComparer.Ordinal);
    private TaskCompletionSource _pending = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _written = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StatusPublisher(LeaseElection election, StatusWriter writer, TimeProvider time)
    {
        _election = election;
        _writer = writer;
        _time = time;
        _election.LeadershipChanged += leading =>
        {
            if (leading)
            {
                // Another replica may have written since we last did: read everything again.
                _writer.Forget();
                Volatile.Read(ref _pending).TrySetResult();
            }
        };
    }

    public bool IsLeader => _election.IsLeader;

    public StatusWriter Writer => _writer;

    /// <summary>Completes after the next round of writes (tests wait on it).</summary>
    public Task NextWrite => Volatile.Read(ref _written).Task;

    public void Offer(string source, IReadOnlyList<DesiredStatus> statuses)
    {
        lock (_latest)
        {
            _latest[source] = statuses;
        }

        Volatile.Read(ref _pending).TrySetResult();
    }

    public Task RunAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(_election.RunAsync(cancellationToken), WriteLoopAsync(cancellationToken));

    private async Task WriteLoopAsync(CancellationToken cancellationToken)
    {
        var lastRecheck = _time.GetTimestamp();
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Volatile.Read(ref _pending).Task.WaitAsync(RecheckInterval, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Nothing changed: the periodic check.
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Volatile.Write(ref _pending, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            if (_time.GetElapsedTime(lastRecheck) >= RecheckInterval)
            {
                _writer.Forget();
                lastRecheck = _time.GetTimestamp();
            }

            if (_election.IsLeader)
            {
                List<DesiredStatus> all;
                lock (_latest)
                {
                    all = [.. _latest.Values.SelectMany(s => s)];
                }

                try
                {
                    await _writer.WriteAsync(all, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }

            Interlocked.Exchange(ref _written, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }
}
