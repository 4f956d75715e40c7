using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text;
using LoadBalancing.Proxy.Metrics;

namespace LoadBalancing.Proxy.Admin;

/// <summary>
/// The instruments behind <c>/metrics</c>. The proxy's own meter (this proxy's instance only: another proxy in the
/// process has a meter of the same name) is exported under the Prometheus names in <see cref="ProxyMetrics.Families"/>.
/// Other <c>LoadBalancing.*</c> meters (Kubernetes discovery's freshness, restarts, drift…) from the same host's
/// <c>IMeterFactory</c>, or from none (a component built without one), are exported by rule: counters
/// summed per tag set as they are recorded, observable gauges read at scrape time, names derived
/// (<c>lb.kubernetes.relists</c> → <c>lb_kubernetes_relists_total</c>, a gauge in seconds gains <c>_seconds</c>).
/// </summary>
internal sealed class MeterExporter : IDisposable
{
    private const string Prefix = "LoadBalancing.";

    // Marks the proxy's own instruments, so a measurement is routed without a lookup.
    private static readonly object Own = new();

    private readonly ProxyMetrics _proxy;
    private readonly MeterListener _listener = new();
    private readonly Lock _collecting = new();
    private readonly ConcurrentDictionary<(Instrument Instrument, string Labels), double> _counters = new();
    private Scrape? _scrape;

    public MeterExporter(ProxyMetrics proxy)
    {
        _proxy = proxy;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter == proxy.Meter)
            {
                // The histogram stays disabled: its /metrics buckets come from LatencyHistogram, so recording it costs
                // requests something only while a listener of the embedding application wants it.
                if (instrument is not Histogram<double>)
                {
                    listener.EnableMeasurementEvents(instrument, Own);
                }
            }
            else if (instrument.Meter.Name.StartsWith(Prefix, StringComparison.Ordinal) && instrument.Meter.Name != ProxyMetrics.MeterName
                && (instrument.Meter.Scope is null || ReferenceEquals(instrument.Meter.Scope, proxy.Meter.Scope)))
            {
                // Another host in the process (an application with two proxies, a test run) has its own instruments of
                // the same names: only this host's are its /metrics.
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, t, s) => Record(i, v, t, s));
        _listener.SetMeasurementEventCallback<int>((i, v, t, s) => Record(i, v, t, s));
        _listener.SetMeasurementEventCallback<double>((i, v, t, s) => Record(i, v, t, s));
        _listener.Start();
    }

    /// <summary>Reads every observable instrument once; the result is written without further locking.</summary>
    public Scrape Collect()
    {
        lock (_collecting)
        {
            var scrape = new Scrape(_proxy.Families);
            _scrape = scrape;
            try
            {
                _listener.RecordObservableInstruments();
            }
            finally
            {
                _scrape = null;
            }

            foreach (var (key, value) in _counters)
            {
                scrape.Counters[key] = value;
            }

            return scrape;
        }
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        if (ReferenceEquals(state, Own))
        {
            // Observable instruments report only inside Collect, on its thread.
            if (_scrape is { } scrape)
            {
                if (!scrape.Own.TryGetValue(instrument, out var samples))
                {
                    scrape.Own[instrument] = samples = [];
                }

                samples.Add((PrometheusText.Labels(tags), value));
            }
        }
        else if (instrument is ObservableGauge<double> or ObservableGauge<int> or ObservableGauge<long>)
        {
            if (_scrape is { } scrape)
            {
                scrape.Gauges[(instrument, PrometheusText.Labels(tags))] = value;
            }
        }
        else if (instrument is Counter<long> or Counter<int> or Counter<double>)
        {
            _counters.AddOrUpdate((instrument, PrometheusText.Labels(tags)), value, (_, old) => old + value);
        }
    }

    public void Dispose() => _listener.Dispose();

    /// <summary>One reading of the instruments.</summary>
    internal sealed class Scrape(IReadOnlyList<PrometheusFamily> families)
    {
        public Dictionary<Instrument, List<(string Labels, double Value)>> Own { get; } = [];

        public Dictionary<(Instrument Instrument, string Labels), double> Gauges { get; } = [];

        public Dictionary<(Instrument Instrument, string Labels), double> Counters { get; } = [];

        /// <summary>The proxy's instruments, in their order, with their samples in the order the instruments reported them.</summary>
        public void WriteProxy(StringBuilder text)
        {
            foreach (var family in families)
            {
                PrometheusText.Header(text, family.Name, family.Type, family.Instrument.Description ?? family.Instrument.Name);
                if (family.WriteSamples is { } write)
                {
                    write(text);
                }
                else if (Own.TryGetValue(family.Instrument, out var samples))
                {
                    foreach (var (labels, value) in samples)
                    {
                        PrometheusText.Line(text, family.Name, labels, value);
                    }
                }
            }
        }

        /// <summary>The other LoadBalancing meters' instruments, by name.</summary>
        public void WriteOthers(StringBuilder text)
        {
            WriteFamily(text, Counters, "counter");
            WriteFamily(text, Gauges, "gauge");
        }

        private static void WriteFamily(StringBuilder text, Dictionary<(Instrument Instrument, string Labels), double> values, string type)
        {
            foreach (var family in values.GroupBy(p => p.Key.Instrument).OrderBy(g => g.Key.Name, StringComparer.Ordinal))
            {
                var name = Name(family.Key, type);
                PrometheusText.Header(text, name, type, family.Key.Description ?? family.Key.Name);
                foreach (var sample in family.OrderBy(p => p.Key.Labels, StringComparer.Ordinal))
                {
                    PrometheusText.Line(text, name, sample.Key.Labels, sample.Value);
                }
            }
        }

        private static string Name(Instrument instrument, string type)
        {
            var name = instrument.Name.Replace('.', '_').Replace('-', '_');
            if (instrument.Unit == "s" && !name.EndsWith("_seconds", StringComparison.Ordinal))
            {
                name += "_seconds";
            }

            return type == "counter" ? name + "_total" : name;
        }
    }
}
