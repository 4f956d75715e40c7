namespace LoadBalancing.Proxy.Health;

/// <summary>What makes two probers the same: the probed address and port, and the check's settings.</summary>
internal readonly record struct HealthProbeKey(string Address, int Port, string Settings);

/// <summary>
/// The probers of one proxy, keyed by (address, port, settings) and reference counted. It outlives configuration
/// generations: a reload that keeps or rebuilds a cluster acquires the probers it already had before the old cluster
/// releases them, so probing neither restarts nor doubles; clusters over the same endpoints with the same settings
/// (routes generated from one Service) share one prober per endpoint.
/// </summary>
internal sealed class HealthProberRegistry : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<HealthProbeKey, HealthProber> _probers = [];
    private readonly Random _random;
    private readonly Lazy<HttpMessageInvoker> _grpc;
    private long _probesCompleted;
    private bool _disposed;

    public HealthProberRegistry(TimeProvider time, Random? random = null)
    {
        Time = time;
        _random = random ?? Random.Shared;

        // One client for every plaintext gRPC probe, HTTP/2 with prior knowledge.
        _grpc = new Lazy<HttpMessageInvoker>(() => GrpcProbeClient.Create());
    }

    public TimeProvider Time { get; }

    public HttpMessageInvoker GrpcClient => _grpc.Value;

    /// <summary>Probers running now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _probers.Count;
            }
        }
    }

    /// <summary>Raised after every probe, once its verdict reached the watching clusters (tests wait on it).</summary>
    internal event Action<HealthProber, ProbeResult>? Probed;

    /// <summary>
    /// Subscribes <paramref name="watch"/> to the prober of <paramref name="target"/>, creating and starting it if
    /// new (after the subscription, so even a probe that completes at once is seen); give it back with <see cref="Release"/>.
    /// </summary>
    public HealthProber Acquire(HealthProbeTarget target, Func<HealthProber, HealthWatch> watch)
    {
        var key = new HealthProbeKey(target.Address, target.Port, target.Fingerprint);
        HealthProber prober;
        var created = false;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_probers.TryGetValue(key, out prober!))
            {
                _probers[key] = prober = new HealthProber(key, target, this);
                created = true;
            }

            prober.References++;
        }

        prober.Subscribe(watch(prober));
        if (created)
        {
            prober.Start();
        }

        return prober;
    }

    public void Release(HealthProber prober)
    {
        lock (_lock)
        {
            if (--prober.References > 0 || !_probers.Remove(prober.Key))
            {
                return;
            }
        }

        prober.Dispose();
    }

    internal TimeSpan FirstDelay(HealthCheckSettings settings) =>
        settings.Jitter <= TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromTicks(_random.NextInt64(settings.Jitter.Ticks + 1));

    internal TimeSpan NextDelay(HealthCheckSettings settings)
    {
        if (settings.Jitter <= TimeSpan.Zero)
        {
            return settings.Interval;
        }

        // Interval ± Jitter/2: on average one probe per interval, never in step with the other endpoints'.
        var offset = _random.NextInt64(settings.Jitter.Ticks + 1) - (settings.Jitter.Ticks / 2);
        return TimeSpan.FromTicks(Math.Max(1, settings.Interval.Ticks + offset));
    }

    /// <summary>Probes finished since start, every prober together.</summary>
    internal long ProbesCompleted => Interlocked.Read(ref _probesCompleted);

    internal void OnProbed(HealthProber prober, ProbeResult result)
    {
        Interlocked.Increment(ref _probesCompleted);
        Probed?.Invoke(prober, result);
    }

    public void Dispose()
    {
        HealthProber[] probers;
        lock (_lock)
        {
            _disposed = true;
            probers = [.. _probers.Values];
            _probers.Clear();
        }

        foreach (var prober in probers)
        {
            prober.Dispose();
        }

        if (_grpc.IsValueCreated)
        {
            _grpc.Value.Dispose();
        }
    }
}
