using System.Collections.Concurrent;
using k8s;
using LoadBalancing.Kubernetes.Diagnostics;
using LoadBalancing.Kubernetes.Watching;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoadBalancing.Kubernetes;

/// <summary>
/// Follows EndpointSlices of the configured Services and publishes each Service port's endpoints into an
/// <see cref="EndpointSource"/> (see <see cref="GetSource"/>). One list-and-watch per namespace. Runs as a hosted
/// service; the view's freshness is visible in <see cref="Freshness"/>, the <c>LoadBalancing.Kubernetes</c>
/// meter and <see cref="KubernetesDiscoveryHealthCheck"/>.
/// </summary>
public sealed class KubernetesDiscovery : IHostedService, IAsyncDisposable
{
    private readonly KubernetesDiscoveryOptions _options;
    private readonly IKubernetes _client;
    private readonly bool _ownsClient;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, NamespaceWatcher> _watchers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SourceRegistration> _sources = new(StringComparer.Ordinal);
    private readonly ServicePublisher _publisher;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _running = [];
    private int _disposed;

    /// <summary>Creates discovery.</summary>
    /// <param name="options">The options (validated now).</param>
    /// <param name="client">The Kubernetes client; by default one built from the options (API server URL, kubeconfig, or in-cluster), owned and disposed by this object.</param>
    /// <param name="time">The clock for timeouts, backoff and freshness; the system clock by default.</param>
    /// <param name="loggerFactory">Where to log; nowhere by default.</param>
    /// <exception cref="ArgumentException">The options are invalid, or no API server can be found; the message says which key.</exception>
    public KubernetesDiscovery(KubernetesDiscoveryOptions options, IKubernetes? client = null, TimeProvider? time = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        KubernetesDiscoveryOptionsValidation.Validate(options);
        _options = options;
        _client = client ?? KubernetesClientFactory.Create(options);
        _ownsClient = client is null;
        _time = time ?? TimeProvider.System;
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("LoadBalancing.Kubernetes");
        Metrics = new KubernetesDiscoveryMetrics(this);
        _publisher = new ServicePublisher(this, options.MinPublishInterval, _time, logger);

        var random = new Random();
        var perNamespace = options.Services.GroupBy(s => s.Namespace, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(s => s.Name).Distinct().ToArray());
        foreach (var ns in options.Namespaces.Concat(perNamespace.Keys).Distinct(StringComparer.Ordinal))
        {
            var services = options.Namespaces.Contains(ns) ? null : perNamespace[ns];
            _watchers[ns] = new NamespaceWatcher(ns, services, _client, options, _time, Metrics, logger, random, _publisher.MarkDirty, () => ConfirmNamespace(ns));
        }

        foreach (var service in options.Services)
        {
            GetSource(service.Namespace, service.Name, service.Port);
        }
    }

    /// <summary>Every namespace's freshness: when its watch last delivered a line and its last list succeeded.</summary>
    public IReadOnlyList<NamespaceFreshness> Freshness =>
        [.. _watchers.Values.Select(w => new NamespaceFreshness(w.Namespace, w.ViewAge(), w.SecondsSinceLastLine(), w.SecondsSinceLastList(), w.View.SliceCount))];

    /// <summary>How old a view may be before it counts as stale.</summary>
    public TimeSpan StaleAfter => _options.StaleAfter;

    /// <summary>How old a view may be before it counts as unhealthy.</summary>
    public TimeSpan UnhealthyAfter => _options.UnhealthyAfter;

    internal KubernetesDiscoveryMetrics Metrics { get; }

    internal IEnumerable<NamespaceWatcher> Namespaces => _watchers.Values;

    internal IEnumerable<SourceRegistration> Sources => _sources.Values;

    /// <summary>
    /// The endpoint source of a Service port. Configured Services have theirs from the start; in a namespace
    /// followed whole, any Service's source can be asked for.
    /// </summary>
    /// <param name="namespace">The Service's namespace.</param>
    /// <param name="service">The Service's name.</param>
    /// <param name="port">The port name or number; empty for the Service's only port.</param>
    /// <returns>The source, named <c>namespace/service[:port]</c>.</returns>
    /// <exception cref="ArgumentException">The namespace is not followed, or the Service is not among those followed in it.</exception>
    public EndpointSource GetSource(string @namespace, string service, string? port = null)
    {
        var reference = new ServiceReference { Namespace = @namespace, Name = service, Port = string.IsNullOrEmpty(port) ? null : port };
        var key = reference.ToString();
        if (_sources.TryGetValue(key, out var existing))
        {
            return existing.Source;
        }

        if (!_watchers.TryGetValue(@namespace, out var watcher)
            || (!_options.Namespaces.Contains(@namespace) && !_options.Services.Any(s => s.Namespace == @namespace && s.Name == service)))
        {
            throw new ArgumentException($"Service '{@namespace}/{service}' is not followed; add it to Kubernetes:Services (or its namespace to Kubernetes:Namespaces).", nameof(service));
        }

        var registration = _sources.GetOrAdd(key, _ => new SourceRegistration(reference, new EndpointSource(key, _time)));
        _publisher.MarkDirty(@namespace, service); // publish what is already known
        return registration.Source;
    }

    /// <summary>Waits until every namespace has been listed once (or the token ends the wait).</summary>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>A task that completes when synced.</returns>
    public Task WaitForSyncAsync(CancellationToken cancellationToken = default) =>
        Task.WhenAll(_watchers.Values.Select(w => w.Synced)).WaitAsync(cancellationToken);

    /// <summary>
    /// Starts the watches and waits up to <see cref="KubernetesDiscoveryOptions.ListTimeout"/> for the first lists
    /// and for their endpoints to reach the sources, so a host starts with endpoints.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting for the first lists.</param>
    /// <returns>A task.</returns>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        lock (_running)
        {
            if (_running.Count > 0)
            {
                return;
            }

            _running.Add(Task.Run(() => _publisher.RunAsync(_stop.Token), CancellationToken.None));
            foreach (var watcher in _watchers.Values)
            {
                _running.Add(Task.Run(() => watcher.RunAsync(_stop.Token), CancellationToken.None));
            }
        }

        using var wait = new CancellationTokenSource(_options.ListTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(wait.Token, cancellationToken);
        try
        {
            await WaitForSyncAsync(linked.Token).ConfigureAwait(false);

            // Listed is not yet published: the publisher hands the first lists to the sources on its own task,
            // and a host that took requests before then would answer 503 with its endpoints in hand.
            await _publisher.PublishedAsync().WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Not synced in time: start anyway; readiness and the health check say the view is missing.
        }
    }

    /// <summary>Stops the watches; the sources keep their last endpoints.</summary>
    /// <param name="cancellationToken">Unused.</param>
    /// <returns>A task.</returns>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        Task[] running;
        lock (_running)
        {
            running = [.. _running];
        }

        await Task.WhenAll(running).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // A container may dispose it twice (it is registered as itself and as a hosted service).
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stop.Dispose();
        _publisher.Dispose();
        Metrics.Dispose();
        if (_ownsClient)
        {
            _client.Dispose();
        }
    }

    internal NamespaceWatcher? Watcher(string ns) => _watchers.GetValueOrDefault(ns);

    internal IEnumerable<SourceRegistration> SourcesOf(string ns, string service) =>
        _sources.Values.Where(s => s.Reference.Namespace == ns && s.Reference.Name == service);

    private void ConfirmNamespace(string ns)
    {
        foreach (var registration in _sources.Values)
        {
            if (registration.Reference.Namespace == ns)
            {
                registration.Source.Confirm();
            }
        }
    }
}

/// <summary>A Service port and the source its endpoints are published to.</summary>
internal sealed record SourceRegistration(ServiceReference Reference, EndpointSource Source);

/// <summary>How fresh one namespace's view is.</summary>
/// <param name="Namespace">The namespace.</param>
/// <param name="ViewAge">Since the view was last known current (the later of the last watch line and the last list); <see cref="TimeSpan.MaxValue"/> before the first.</param>
/// <param name="SecondsSinceLastLine">Since the watch delivered its last line (event or bookmark); infinity before the first.</param>
/// <param name="SecondsSinceLastList">Since the last successful list; infinity before the first.</param>
/// <param name="Slices">EndpointSlices in the view.</param>
public sealed record NamespaceFreshness(string Namespace, TimeSpan ViewAge, double SecondsSinceLastLine, double SecondsSinceLastList, int Slices);
