namespace LoadBalancing.Kubernetes.Watching;

/// <summary>
/// Exponential reconnect delays with jitter: the first is about <c>initial</c>, each doubling up to <c>max</c>;
/// the sequence starts over once the connection has been healthy for <c>resetAfter</c>.
/// </summary>
internal sealed class Backoff(TimeSpan initial, TimeSpan max, TimeSpan resetAfter, TimeProvider time, Random random)
{
    private int _failures;
    private long? _healthySince;

    /// <summary>The number of consecutive failures the next delay is for.</summary>
    public int Failures => _failures;

    /// <summary>Records that the connection works (a list succeeded, or a watch delivered a line).</summary>
    public void Healthy()
    {
        var now = time.GetTimestamp();
        _healthySince ??= now;
        if (_failures > 0 && time.GetElapsedTime(_healthySince.Value, now) >= resetAfter)
        {
            _failures = 0;
        }
    }

    /// <summary>The delay before the next attempt after a failure.</summary>
    public TimeSpan NextDelay()
    {
        if (_healthySince is { } since && time.GetElapsedTime(since) >= resetAfter)
        {
            _failures = 0;
        }

        _healthySince = null;
        var exponent = Math.Min(_failures, 30);
        _failures++;
        var ceiling = Math.Min(max.TotalMilliseconds, initial.TotalMilliseconds * Math.Pow(2, exponent));

        // Jitter in [50 %, 100 %] of the ceiling: proxies that lost the API server together do not return together.
        return TimeSpan.FromMilliseconds(ceiling * (0.5 + (random.NextDouble() * 0.5)));
    }
}
