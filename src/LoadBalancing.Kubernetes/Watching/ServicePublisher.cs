using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using LoadBalancing.Kubernetes.Slices;

namespace LoadBalancing.Kubernetes.Watching;

/// <summary>
/// Publishes changed Services to their endpoint sources off the watch loops. A change only marks the Service
/// dirty (one entry per Service however many events arrive: latest wins), so a busy Service cannot delay
/// another and a watch loop never waits on a balancer rebuild. Each round publishes every dirty Service once,
/// then rests <see cref="KubernetesDiscoveryOptions.MinPublishInterval"/>, bounding publications per Service.
/// A publication that throws is logged and counted and the loop goes on: one bad Service, or one failing
/// subscriber, must not stop every other Service from being published (discovery would go silently stale).
/// </summary>
internal sealed partial class ServicePublisher(KubernetesDiscovery discovery, TimeSpan minInterval, TimeProvider time, ILogger logger) : IDisposable
{
    private readonly ConcurrentDictionary<(string Namespace, string Service), byte> _dirty = new();
    private readonly SemaphoreSlim _signal = new(0, 1);
    private TaskCompletionSource _nextRound = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _pendingSince;
    private long _inRoundSince;

    /// <summary>How long work has waited for the loop, or a round has been running: the publisher's liveness.</summary>
    public TimeSpan PendingFor()
    {
        var pending = Volatile.Read(ref _pendingSince);
        var round = Volatile.Read(ref _inRoundSince);
        var oldest = pending == 0 ? round : round == 0 ? pending : Math.Min(pending, round);
        return oldest == 0 ? TimeSpan.Zero : time.GetElapsedTime(oldest);
    }

    public void MarkDirty(string ns, string service)
    {
        if (_dirty.TryAdd((ns, service), 0))
        {
            Signal();
        }
    }

    /// <summary>
    /// Completes when every Service marked dirty before the call has reached its sources: at the end of the
    /// publisher's next round, which this call asks for.
    /// </summary>
    public Task PublishedAsync()
    {
        var round = Volatile.Read(ref _nextRound);
        Signal();
        return round.Task;
    }

    private void Signal()
    {
        Interlocked.CompareExchange(ref _pendingSince, time.GetTimestamp(), 0);
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled; the next round takes this change too.
        }
    }

    public async Task RunAsync(CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await _signal.WaitAsync(stop).ConfigureAwait(false);

                // Whoever waits on this round marked their Services before it started, so this round takes them.
                var round = Interlocked.Exchange(ref _nextRound, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                Volatile.Write(ref _inRoundSince, time.GetTimestamp());
                Volatile.Write(ref _pendingSince, 0);
                try
                {
                    foreach (var key in _dirty.Keys)
                    {
                        if (_dirty.TryRemove(key, out _))
                        {
                            Publish(key.Namespace, key.Service);
                        }
                    }
                }
                finally
                {
                    Volatile.Write(ref _inRoundSince, 0);
                    round.TrySetResult();
                }

                if (minInterval > TimeSpan.Zero)
                {
                    await Task.Delay(minInterval, time, stop).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private void Publish(string ns, string service)
    {
        if (discovery.Watcher(ns) is not { } watcher || !watcher.HasListed(service))
        {
            // Not listed yet (discovery starting, or the Service followed since the last list): the view knows
            // nothing of it, and an empty list published now would count as confirmed. The list marks it again.
            return;
        }

        var slices = watcher.View.Slices(service);
        foreach (var registration in discovery.SourcesOf(ns, service))
        {
            var name = registration.Reference.ToString();
            try
            {
                var endpoints = ServiceEndpoints.Build(slices, registration.Reference.Port, out var origins);
                registration.Source.Publish(endpoints, origins);
                discovery.Metrics.Published(name);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                discovery.Metrics.PublishFailed(name);
                LogPublishFailed(logger, name, e);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Publishing the endpoints of {Service} failed; it is published again when the Service next changes.")]
    private static partial void LogPublishFailed(ILogger logger, string service, Exception exception);

    public void Dispose() => _signal.Dispose();
}
