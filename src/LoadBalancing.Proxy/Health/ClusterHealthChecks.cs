namespace LoadBalancing.Proxy.Health;

/// <summary>
/// A cluster's active health check: one watch per endpoint in its source, each on the shared prober of its target,
/// reporting verdicts to the cluster's balancer (<see cref="Balancer.SetHealth"/>). Requests never see any of it:
/// health is folded into the picker when the balancer rebuilds it.
/// </summary>
internal sealed class ClusterHealthChecks : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<EndpointState, HealthWatch> _watches = new(ReferenceEqualityComparer.Instance);
    private readonly HealthProberRegistry _registry;
    private readonly IDisposable _subscription;
    private long _passed;
    private long _failed;
    private bool _disposed;

    /// <param name="cluster">The cluster's name, for the probers' TLS messages.</param>
    /// <param name="settings">The check.</param>
    /// <param name="tls">The TLS HTTP and gRPC probes go over; null for plaintext.</param>
    /// <param name="balancer">The cluster's balancer: its source says what to probe, and it takes the verdicts.</param>
    /// <param name="registry">The proxy's probers.</param>
    public ClusterHealthChecks(string cluster, HealthCheckSettings settings, UpstreamTlsOptions? tls, Balancer balancer, HealthProberRegistry registry)
    {
        Cluster = cluster;
        Settings = settings;
        Tls = tls;
        Balancer = balancer;
        _registry = registry;
        _subscription = balancer.Source.Subscribe(_ => Sync());
        Sync();
    }

    public string Cluster { get; }

    public HealthCheckSettings Settings { get; }

    public UpstreamTlsOptions? Tls { get; }

    public Balancer Balancer { get; }

    /// <summary>Probes that passed, as this cluster received them (a probe shared with another cluster counts in both).</summary>
    public long Passed => Volatile.Read(ref _passed);

    /// <summary>Probes that failed, as this cluster received them.</summary>
    public long Failed => Volatile.Read(ref _failed);

    /// <summary>The prober's view of an endpoint, or null when it has no watch (it just joined, or left).</summary>
    public HealthSnapshot? Snapshot(EndpointState state)
    {
        lock (_lock)
        {
            return _watches.TryGetValue(state, out var watch) ? watch.Prober.Snapshot : null;
        }
    }

    internal void Count(bool passed)
    {
        if (passed)
        {
            Interlocked.Increment(ref _passed);
        }
        else
        {
            Interlocked.Increment(ref _failed);
        }
    }

    /// <summary>Watches the endpoints of the current set: new ones acquire their prober, gone ones release theirs.</summary>
    private void Sync()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            var set = Balancer.Source.Current;
            var current = new HashSet<EndpointState>(set.States, ReferenceEqualityComparer.Instance);
            foreach (var (state, watch) in _watches.ToArray())
            {
                if (!current.Contains(state))
                {
                    _watches.Remove(state);
                    Stop(watch);
                }
            }

            for (var i = 0; i < set.Count; i++)
            {
                var state = set.States[i];
                if (_watches.ContainsKey(state))
                {
                    continue;
                }

                var endpoint = set.Endpoints[i];
                HealthWatch? watch = null;
                _registry.Acquire(new HealthProbeTarget(endpoint.Address, Settings.Port ?? endpoint.Port, Settings, Tls, Cluster), prober => watch = new HealthWatch(this, state, prober));
                _watches[state] = watch!;
            }
        }
    }

    private void Stop(HealthWatch watch)
    {
        watch.Prober.Unsubscribe(watch);
        _registry.Release(watch.Prober);
    }

    public void Dispose()
    {
        _subscription.Dispose();
        lock (_lock)
        {
            _disposed = true;
            foreach (var watch in _watches.Values)
            {
                Stop(watch);
            }

            _watches.Clear();
        }
    }
}

/// <summary>One cluster's interest in one endpoint's prober: passes its verdicts to the cluster's balancer.</summary>
internal sealed class HealthWatch(ClusterHealthChecks owner, EndpointState state, HealthProber prober)
{
    public HealthProber Prober { get; } = prober;

    /// <summary>A verdict already reached (another cluster's prober, or a cluster rebuilt by a reload) applies at once.</summary>
    public void Joined(HealthSnapshot snapshot)
    {
        if (snapshot.State != ProbeState.Unknown)
        {
            owner.Balancer.SetHealth(state, snapshot.State == ProbeState.Healthy, snapshot.LastResult);
        }
    }

    public void Probed(ProbeResult result, HealthSnapshot snapshot, bool changed)
    {
        owner.Count(result.Passed);
        if (changed && snapshot.State != ProbeState.Unknown)
        {
            owner.Balancer.SetHealth(state, snapshot.State == ProbeState.Healthy, result.Result);
        }
    }
}
