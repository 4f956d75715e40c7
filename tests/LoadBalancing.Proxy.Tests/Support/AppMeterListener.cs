using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>
/// What an embedding application's metrics pipeline sees (OpenTelemetry listens the same way): the proxy's meter from
/// the application's <see cref="IMeterFactory"/>, the latest value per instrument and tag set.
/// </summary>
internal sealed class AppMeterListener : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Instrument, string Tags), long> _observed = new();

    public AppMeterListener(IMeterFactory factory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "LoadBalancing.Proxy" && instrument.Meter.Scope == factory)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => _observed[(i.Name, Tags(t))] = v);
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => _observed[(i.Name, Tags(t))] = v);
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) =>
        {
            if (i.Name == "lb.proxy.upstream.duration" && Tags(t) == "cluster=web")
            {
                Durations.Enqueue(v);
            }
        });
        _listener.Start();
    }

    /// <summary>The upstream latencies of cluster "web" recorded so far, in seconds.</summary>
    public ConcurrentQueue<double> Durations { get; } = new();

    /// <summary>Forgets what was observed and collects every observable instrument again.</summary>
    public void Collect()
    {
        _observed.Clear();
        _listener.RecordObservableInstruments();
    }

    /// <summary>One series as last collected; <paramref name="tags"/> as <c>key=value</c> pairs, comma-separated, in the instrument's order.</summary>
    public long Value(string instrument, string tags) =>
        _observed.TryGetValue((instrument, tags), out var v) ? v : throw new InvalidOperationException($"{instrument} {{{tags}}} was not observed");

    public bool Any(string instrument) => _observed.Keys.Any(k => k.Instrument == instrument);

    public int Count(string instrument) => _observed.Keys.Count(k => k.Instrument == instrument);

    /// <summary>Collects the observable instruments and returns one series (of cluster "web" unless proxy-wide).</summary>
    public long Observe(string instrument, string? tag = null, string? value = null)
    {
        _listener.RecordObservableInstruments();
        var tags = tag is null ? "cluster=web" : $"cluster=web,{tag}={value}";
        return _observed.TryGetValue((instrument, tags), out var v) ? v
            : _observed.TryGetValue((instrument, tag is null ? "" : $"{tag}={value}"), out v) ? v
            : throw new InvalidOperationException($"{instrument} {{{tags}}} was not observed");
    }

    public void Dispose() => _listener.Dispose();

    private static string Tags(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var parts = new List<string>();
        foreach (var tag in tags)
        {
            parts.Add($"{tag.Key}={tag.Value}");
        }

        return string.Join(",", parts);
    }
}
