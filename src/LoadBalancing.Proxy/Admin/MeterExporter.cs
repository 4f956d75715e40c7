using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace LoadBalancing.Proxy.Admin;

/// <summary>
/// Exposes instruments of other <c>LoadBalancing.*</c> meters (Kubernetes discovery's freshness, restarts,
/// drift…) on <c>/metrics</c> next to the proxy's own: counters summed per tag set as they are recorded,
/// observable gauges read at scrape time. Names become Prometheus names (<c>lb.kubernetes.relists</c> →
/// <c>lb_kubernetes_relists_total</c>, a gauge in seconds gains <c>_seconds</c>).
/// </summary>
internal sealed class MeterExporter : IDisposable
{
    private const string Prefix = "LoadBalancing.";

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(Instrument Instrument, string Labels), double> _counters = new();
    private readonly ConcurrentDictionary<(Instrument Instrument, string Labels), double> _gauges = new();

    public MeterExporter()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name.StartsWith(Prefix, StringComparison.Ordinal))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        _listener.Start();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var key = (instrument, Labels(tags));
        if (instrument is ObservableGauge<double> or ObservableGauge<int> or ObservableGauge<long>)
        {
            _gauges[key] = value;
        }
        else if (instrument is Counter<long> or Counter<int> or Counter<double>)
        {
            _counters.AddOrUpdate(key, value, (_, old) => old + value);
        }
    }

    public void Write(StringBuilder text)
    {
        _gauges.Clear();
        _listener.RecordObservableInstruments();
        WriteFamily(text, _counters, "counter");
        WriteFamily(text, _gauges, "gauge");
    }

    private static void WriteFamily(StringBuilder text, ConcurrentDictionary<(Instrument Instrument, string Labels), double> values, string type)
    {
        foreach (var family in values.GroupBy(p => p.Key.Instrument).OrderBy(g => g.Key.Name, StringComparer.Ordinal))
        {
            var name = Name(family.Key, type);
            text.Append("# HELP ").Append(name).Append(' ').Append(family.Key.Description ?? family.Key.Name).Append('\n');
            text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            foreach (var sample in family.OrderBy(p => p.Key.Labels, StringComparer.Ordinal))
            {
                var value = sample.Value;
                text.Append(name).Append(sample.Key.Labels).Append(' ')
                    .Append(double.IsPositiveInfinity(value) ? "+Inf" : value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
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

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty)
        {
            return "";
        }

        var parts = new List<string>(tags.Length);
        foreach (var tag in tags)
        {
            var value = Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "";
            parts.Add($"{tag.Key.Replace('.', '_')}=\"{value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}\"");
        }

        parts.Sort(StringComparer.Ordinal);
        return "{" + string.Join(",", parts) + "}";
    }

    public void Dispose() => _listener.Dispose();
}
