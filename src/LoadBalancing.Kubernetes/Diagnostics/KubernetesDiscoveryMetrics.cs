using System.Diagnostics.Metrics;

namespace LoadBalancing.Kubernetes.Diagnostics;

/// <summary>Why a watch was restarted.</summary>
internal enum WatchRestartCause
{
    /// <summary>The server ended the watch (its timeoutSeconds) or closed the stream cleanly.</summary>
    Timeout,

    /// <summary>No line arrived within the idle bound.</summary>
    Idle,

    /// <summary>The client-side deadline passed (a hung watch the server never ended).</summary>
    Deadline,

    /// <summary>A transport error, a non-410 error status, or a failed request.</summary>
    Error,

    /// <summary>410 Gone / Expired: the resource version is too old; a relist follows.</summary>
    Expired,

    /// <summary>A confirmation found changes the open watch had not delivered; they were applied from a list.</summary>
    Drift,

    /// <summary>A list replaced the view while the watch was open; the next watch resumes from the list.</summary>
    Superseded,
}

/// <summary>
/// The <c>LoadBalancing.Kubernetes</c> meter: freshness gauges computed from timestamps at collection time,
/// and counters of restarts, relists, drift, events and malformed objects.
/// </summary>
internal sealed class KubernetesDiscoveryMetrics : IDisposable
{
    public const string MeterName = "LoadBalancing.Kubernetes";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _restarts;
    private readonly Counter<long> _relists;
    private readonly Counter<long> _drift;
    private readonly Counter<long> _events;
    private readonly Counter<long> _malformed;
    private readonly Counter<long> _publishes;
    private readonly Counter<long> _publishFailures;
    private readonly Counter<long> _confirmations;
    private readonly Counter<long> _confirmationBytes;

    public KubernetesDiscoveryMetrics(KubernetesDiscovery discovery, IMeterFactory? meterFactory = null)
    {
        // A factory's meters are the factory's to dispose; only a meter made here is ours.
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _restarts = _meter.CreateCounter<long>("lb.kubernetes.watch.restarts", description: "Watch restarts, by cause (timeout, idle, deadline, error, expired).");
        _relists = _meter.CreateCounter<long>("lb.kubernetes.relists", description: "Successful list requests (initial, after a failure or 410, and periodic).");
        _drift = _meter.CreateCounter<long>("lb.kubernetes.drift.corrections", description: "Changes an open watch failed to deliver within the grace period, found by a confirmation and applied from a list.");
        _confirmations = _meter.CreateCounter<long>("lb.kubernetes.confirmations", description: "Confirmations of the view against the API server, by result (confirmed, drift, caught_up, unreachable, not_converging).");
        _confirmationBytes = _meter.CreateCounter<long>("lb.kubernetes.confirmation.bytes", unit: "By", description: "Response bytes read by confirmations (metadata-only lists).");
        _events = _meter.CreateCounter<long>("lb.kubernetes.watch.events", description: "Watch lines received, by type (added, modified, deleted, bookmark, error).");
        _malformed = _meter.CreateCounter<long>("lb.kubernetes.malformed.objects", description: "EndpointSlices or watch lines skipped as malformed.");
        _publishes = _meter.CreateCounter<long>("lb.kubernetes.publishes", description: "Endpoint lists published to the balancers.");
        _publishFailures = _meter.CreateCounter<long>("lb.kubernetes.publish.failures", description: "Endpoint lists whose publication threw; the Service is published again on its next change.");
        _meter.CreateObservableGauge("lb.kubernetes.watch.last_line_age", () => discovery.Namespaces.Select(n =>
            new Measurement<double>(n.SecondsSinceLastLine(), new KeyValuePair<string, object?>("namespace", n.Namespace))), unit: "s",
            description: "Seconds since the watch delivered its last line (event or bookmark).");
        _meter.CreateObservableGauge("lb.kubernetes.list.last_success_age", () => discovery.Namespaces.Select(n =>
            new Measurement<double>(n.SecondsSinceLastList(), new KeyValuePair<string, object?>("namespace", n.Namespace))), unit: "s",
            description: "Seconds since the last successful list.");
        _meter.CreateObservableGauge("lb.kubernetes.view.age", () => discovery.Freshness.Select(n =>
            new Measurement<double>(n.ViewAge == TimeSpan.MaxValue ? double.PositiveInfinity : n.ViewAge.TotalSeconds, new KeyValuePair<string, object?>("namespace", n.Namespace))), unit: "s",
            description: "Seconds since the view was last confirmed against the API server.");
        _meter.CreateObservableGauge("lb.kubernetes.view.status", () => discovery.Freshness.SelectMany(n => AllStatuses.Select(status =>
            new Measurement<int>(n.Status == status ? 1 : 0, new("namespace", n.Namespace), new("status", StatusName(status))))),
            description: "1 for the view's current status (current, stale_unreachable, stale_not_converging, never_synced, wedged), 0 for the others.");
        _meter.CreateObservableGauge("lb.kubernetes.service.endpoints", () => discovery.Sources.Select(s =>
            new Measurement<int>(s.Source.Current.Count, new KeyValuePair<string, object?>("service", s.Reference.ToString()))),
            description: "Endpoints currently published per Service port.");
    }

    internal Meter Meter => _meter;

    public void Restart(string ns, WatchRestartCause cause) =>
        _restarts.Add(1, new("namespace", ns), new("cause", cause.ToString().ToLowerInvariant()));

    public void Relisted(string ns) => _relists.Add(1, new KeyValuePair<string, object?>("namespace", ns));

    public void Drift(string ns, int slices) => _drift.Add(slices, new KeyValuePair<string, object?>("namespace", ns));

    public void Event(string ns, string type) => _events.Add(1, new("namespace", ns), new("type", type));

    public void Malformed(string ns) => _malformed.Add(1, new KeyValuePair<string, object?>("namespace", ns));

    public void Confirmation(string ns, string result) => _confirmations.Add(1, new("namespace", ns), new("result", result));

    public void ConfirmationRead(string ns, long bytes) => _confirmationBytes.Add(bytes, new KeyValuePair<string, object?>("namespace", ns));

    private static readonly ViewStatus[] AllStatuses = Enum.GetValues<ViewStatus>();

    internal static string StatusName(ViewStatus status) => status switch
    {
        ViewStatus.Current => "current",
        ViewStatus.StaleUnreachable => "stale_unreachable",
        ViewStatus.StaleNotConverging => "stale_not_converging",
        ViewStatus.NeverSynced => "never_synced",
        _ => "wedged",
    };

    public void Published(string service) => _publishes.Add(1, new KeyValuePair<string, object?>("service", service));

    public void PublishFailed(string service) => _publishFailures.Add(1, new KeyValuePair<string, object?>("service", service));

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
