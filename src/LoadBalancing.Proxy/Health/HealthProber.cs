using LoadBalancing.Proxy.Upstream.Tls;

namespace LoadBalancing.Proxy.Health;

/// <summary>An endpoint's health as its prober last judged it.</summary>
internal enum ProbeState
{
    /// <summary>No probe has decided yet.</summary>
    Unknown,

    Healthy,

    Unhealthy,
}

/// <summary>One prober's view, swapped whole after each probe (readers take one volatile read).</summary>
/// <param name="State">The verdict.</param>
/// <param name="LastProbe">When the last probe ended; null before the first.</param>
/// <param name="LastResult">What it found (<c>HTTP 200</c>, <c>connect refused</c>).</param>
/// <param name="LastPassed">Whether it passed.</param>
/// <param name="Streak">Consecutive probes with the same outcome as the last.</param>
/// <param name="LastChange">When the verdict last changed; null while unknown.</param>
internal sealed record HealthSnapshot(ProbeState State, DateTimeOffset? LastProbe, string? LastResult, bool LastPassed, int Streak, DateTimeOffset? LastChange)
{
    public static readonly HealthSnapshot Initial = new(ProbeState.Unknown, null, null, false, 0, null);
}

/// <summary>
/// Probes one target (address, port, settings) on a timer of the registry's clock, one probe at a time, and tells every
/// cluster watching it. Shared by reference count (<see cref="HealthProberRegistry"/>): however many clusters and
/// configuration generations watch an endpoint with the same settings, it is probed once per interval.
/// </summary>
internal sealed class HealthProber : IDisposable
{
    private readonly Lock _lock = new();
    private readonly HealthProberRegistry _registry;
    private readonly ITimer _timer;
    private readonly CancellationTokenSource _stopping = new();
    private readonly UpstreamTlsSettings? _tls;
    private readonly HttpMessageInvoker? _grpcOverTls;
    private HealthWatch[] _watches = [];
    private volatile HealthSnapshot _snapshot = HealthSnapshot.Initial;
    private bool _disposed;

    public HealthProber(HealthProbeKey key, HealthProbeTarget target, HealthProberRegistry registry)
    {
        Key = key;
        Target = target;
        _registry = registry;
        if (target.Tls is not null)
        {
            // Its own TLS settings, not the cluster's: the prober outlives the configuration generation that created
            // it, and reads the certificate files again when they change as the cluster's settings do.
            _tls = new UpstreamTlsSettings(target.Cluster, target.Tls, registry.Time);
            if (target.Settings.Protocol == HealthCheckProtocol.Grpc)
            {
                _grpcOverTls = GrpcProbeClient.Create(target, _tls);
            }
        }

        _timer = registry.Time.CreateTimer(static s => ((HealthProber)s!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public HealthProbeKey Key { get; }

    public HealthProbeTarget Target { get; }

    public HealthSnapshot Snapshot => _snapshot;

    /// <summary>Watchers holding this prober; changed under the registry's lock only.</summary>
    internal int References { get; set; }

    public void Start() => _timer.Change(_registry.FirstDelay(Target.Settings), Timeout.InfiniteTimeSpan);

    /// <summary>Adds a watcher and gives it the current verdict, under the lock, so it never sees an older one after a newer.</summary>
    public void Subscribe(HealthWatch watch)
    {
        lock (_lock)
        {
            _watches = [.. _watches, watch];
            watch.Joined(_snapshot);
        }
    }

    public void Unsubscribe(HealthWatch watch)
    {
        lock (_lock)
        {
            _watches = Array.FindAll(_watches, w => !ReferenceEquals(w, watch));
        }
    }

    private void OnTimer() => _ = RunAsync();

    private async Task RunAsync()
    {
        ProbeResult result;
        try
        {
            result = await HealthProbes.ProbeAsync(Target, _grpcOverTls ?? _registry.GrpcClient, _tls, _registry.Time, _stopping.Token).ConfigureAwait(false);
        }
        catch (ObjectDisposedException) when (Volatile.Read(ref _disposed))
        {
            return; // stopped while probing
        }
        catch (Exception e)
        {
            // Whatever went wrong, the endpoint did not pass, and the next probe must still be scheduled.
            result = new ProbeResult(false, "probe error: " + e.GetType().Name);
        }

        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            try
            {
                var changed = Record(result);
                foreach (var watch in _watches)
                {
                    watch.Probed(result, _snapshot, changed);
                }
            }
            finally
            {
                // The next wait starts when this probe ends: one probe at a time, never a backlog.
                _timer.Change(_registry.NextDelay(Target.Settings), Timeout.InfiniteTimeSpan);
            }
        }

        _registry.OnProbed(this, result);
    }

    /// <summary>Applies a result to the streak and the verdict; returns whether the verdict changed.</summary>
    private bool Record(ProbeResult result)
    {
        var settings = Target.Settings;
        var now = _registry.Time.GetUtcNow();
        var old = _snapshot;
        var streak = old.LastProbe is not null && old.LastPassed == result.Passed ? old.Streak + 1 : 1;
        var state = old.State;
        if (result.Passed)
        {
            // From unknown, one pass is enough (as Envoy does at start); an unhealthy endpoint needs HealthyThreshold.
            if (state == ProbeState.Unknown || (state == ProbeState.Unhealthy && streak >= settings.HealthyThreshold))
            {
                state = ProbeState.Healthy;
            }
        }
        else if (state != ProbeState.Unhealthy
            && (streak >= settings.UnhealthyThreshold || (state == ProbeState.Unknown && settings.InitialState == HealthCheckInitialState.Unhealthy)))
        {
            state = ProbeState.Unhealthy;
        }

        var changed = state != old.State;
        _snapshot = new HealthSnapshot(state, now, result.Result, result.Passed, streak, changed ? now : old.LastChange);
        return changed;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _watches = [];
        }

        _timer.Dispose();
        _stopping.Cancel();
        _stopping.Dispose();
        _grpcOverTls?.Dispose();
        _tls?.Dispose();
    }
}
