using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using k8s;
using LoadBalancing.Kubernetes.Diagnostics;
using LoadBalancing.Kubernetes.Watching;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoadBalancing.Kubernetes;

/// <summary>
/// Follows EndpointSlices of the configured Services and publishes each Service port's endpoints into an
/// <see cref="EndpointSource"/> (see <see cref="GetSource"/>). One list-and-watch per namespace, and one confirmation
/// loop per namespace that checks the view against the API server whatever the watch does. Runs as a hosted
/// service; the view's freshness is visible in <see cref="Freshness"/>, the <c>LoadBalancing.Kubernetes</c>
/// meter, <see cref="KubernetesDiscoveryHealthCheck"/> (readiness) and <see cref="KubernetesDiscoveryLivenessCheck"/>.
/// </summary>
public sealed partial class KubernetesDiscovery : IHostedService, IAsyncDisposable
{
    private readonly KubernetesDiscoveryOptions _options;
    private readonly k8s.Kubernetes _client;
    private readonly bool _ownsClient;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, NamespaceWatcher> _watchers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, NamespaceConfirmer> _confirmers = new(StringComparer.Ordinal);
    private readonly Lock _following = new();
    private readonly SliceApi _api;
    private readonly ILogger _logger;
    private readonly Random _random = new();
    private readonly Dictionary<Task, string> _loops = [];
    private readonly ConcurrentDictionary<string, SourceRegistration> _sources = new(StringComparer.Ordinal);
    private readonly ServicePublisher _publisher;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _running = [];
    private int _disposed;

    /// <summary>Creates discovery.</summary>
    /// <param name="options">The options (validated now).</param>
    /// <param name="client">The Kubernetes client (its base URI, credentials and HTTP pipeline are used); by default one built from the options (API server URL, kubeconfig, or in-cluster), owned and disposed by this object.</param>
    /// <param name="time">The clock for timeouts, backoff and freshness; the system clock by default.</param>
    /// <param name="loggerFactory">Where to log; nowhere by default.</param>
    /// <param name="meterFactory">Where the <c>LoadBalancing.Kubernetes</c> meter comes from (the application's, so its metrics pipeline sees it); a meter of its own by default.</param>
    /// <exception cref="ArgumentException">The options are invalid, or no API server can be found; the message says which key.</exception>
    public KubernetesDiscovery(KubernetesDiscoveryOptions options, k8s.Kubernetes? client = null, TimeProvider? time = null, ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        KubernetesDiscoveryOptionsValidation.Validate(options);
        _options = options;
        _client = client ?? KubernetesClientFactory.Create(options);
        _ownsClient = client is null;
        _time = time ?? TimeProvider.System;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("LoadBalancing.Kubernetes");
        Metrics = new KubernetesDiscoveryMetrics(this, meterFactory);
        _publisher = new ServicePublisher(this, options.MinPublishInterval, _time, _logger);

        _api = new SliceApi(_client);
        var perNamespace = options.Services.GroupBy(s => s.Namespace, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(s => s.Name).Distinct().ToArray());
        foreach (var ns in options.Namespaces.Concat(perNamespace.Keys).Distinct(StringComparer.Ordinal))
        {
            AddNamespace(ns, options.Namespaces.Contains(ns) ? null : perNamespace[ns]);
        }

        foreach (var service in options.Services)
        {
            GetSource(service.Namespace, service.Name, service.Port);
        }
    }

    /// <summary>Every namespace's freshness: when its view was last confirmed, why not since, and whether its loops run.</summary>
    public IReadOnlyList<NamespaceFreshness> Freshness =>
        [.. _watchers.Values.Select(w =>
        {
            var confirmer = _confirmers[w.Namespace];
            var age = confirmer.ViewAge();
            var problem = confirmer.Problem;
            var status = WedgedReason(w.Namespace) is not null ? ViewStatus.Wedged
                : age == TimeSpan.MaxValue ? ViewStatus.NeverSynced
                : age <= _options.StaleAfter ? ViewStatus.Current
                : problem == ConfirmationProblem.SourceUnreachable ? ViewStatus.StaleUnreachable
                : ViewStatus.StaleNotConverging;
            return new NamespaceFreshness(w.Namespace, age, w.SecondsSinceLastLine(), w.SecondsSinceLastList(), w.View.SliceCount, status, problem);
        })];

    /// <summary>How long a view may go unconfirmed before it counts as stale.</summary>
    public TimeSpan StaleAfter => _options.StaleAfter;

    /// <summary>How long the loops may go without an attempt before they count as wedged.</summary>
    public TimeSpan WedgedAfter => _options.WedgedAfter;

    /// <summary>
    /// Why discovery's loops are wedged — a loop ended while discovery runs, or one made no attempt of any kind for
    /// longer than <see cref="KubernetesDiscoveryOptions.WedgedAfter"/> — or null while they run.
    /// </summary>
    /// <returns>The reason, naming the loop.</returns>
    public string? Wedged()
    {
        if (!Started || _stop.IsCancellationRequested)
        {
            return null;
        }

        // Every reason, not the first: an operator reading the liveness failure wants the whole picture.
        var reasons = new List<string>();
        lock (_running)
        {
            foreach (var (task, name) in _loops)
            {
                if (task.IsCompleted)
                {
                    reasons.Add($"the {name} loop has ended{(task.Exception is { } e ? $" ({e.InnerException?.Message})" : "")}");
                }
            }
        }

        foreach (var ns in _watchers.Keys)
        {
            if (WedgedReason(ns) is { } reason)
            {
                reasons.Add(reason);
            }
        }

        var pending = _publisher.PendingFor();
        if (pending > _options.WedgedAfter)
        {
            reasons.Add($"the publisher has not published for {pending.TotalSeconds:0} s");
        }

        return reasons.Count == 0 ? null : string.Join("; ", reasons);
    }

    internal DiscoveryLoopHooks Hooks { get; } = new();

    private bool Started
    {
        get
        {
            lock (_running)
            {
                return _running.Count > 0;
            }
        }
    }

    internal KubernetesDiscoveryMetrics Metrics { get; }

    internal IEnumerable<NamespaceWatcher> Namespaces => _watchers.Values;

    internal NamespaceConfirmer Confirmer(string ns) => _confirmers[ns];

    /// <summary>Completes when every Service marked for publishing before the call has reached its sources (for tests).</summary>
    internal Task PublishedAsync() => _publisher.PublishedAsync();

    /// <summary>Completes when any of the loops ends (for tests).</summary>
    internal Task WhenAnyLoopEndsAsync()
    {
        lock (_running)
        {
            return Task.WhenAny(_loops.Keys);
        }
    }

    internal IEnumerable<SourceRegistration> Sources => _sources.Values;

    /// <summary>
    /// The endpoint source of a Service port. Configured Services have theirs from the start. Any other Service is
    /// followed from the first call on: its namespace is listed again with the Service added (or, for a namespace not
    /// followed yet, gets its own watch and confirmation loops), and the source is published once that list lands.
    /// Until then it has no endpoints and has never synced.
    /// </summary>
    /// <param name="namespace">The Service's namespace.</param>
    /// <param name="service">The Service's name.</param>
    /// <param name="port">The port name or number; empty for the Service's only port.</param>
    /// <returns>The source, named <c>namespace/service[:port]</c>.</returns>
    /// <exception cref="ArgumentException">The namespace or Service name is empty.</exception>
    public EndpointSource GetSource(string @namespace, string service, string? port = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(@namespace);
        ArgumentException.ThrowIfNullOrWhiteSpace(service);
        var reference = new ServiceReference { Namespace = @namespace, Name = service, Port = string.IsNullOrEmpty(port) ? null : port };
        var key = reference.ToString();
        if (_sources.TryGetValue(key, out var existing))
        {
            return existing.Source;
        }

        var registration = _sources.GetOrAdd(key, _ => new SourceRegistration(reference, new EndpointSource(key, _time)));
        Follow(@namespace, service);
        _publisher.MarkDirty(@namespace, service); // publish what is already known
        return registration.Source;
    }

    /// <summary>Makes sure a Service's slices are in its namespace's view: follows the Service, or the namespace.</summary>
    private void Follow(string ns, string service)
    {
        lock (_following)
        {
            if (!_watchers.TryGetValue(ns, out var watcher))
            {
                LogFollowing(_logger, ns, service);
                AddNamespace(ns, [service]);
                return;
            }

            if (watcher.Services is { } followed && !followed.Contains(service, StringComparer.Ordinal))
            {
                LogFollowing(_logger, ns, service);
                watcher.Follow([.. followed, service]);
            }
        }
    }

    /// <summary>Creates a namespace's watch and confirmation loops, and runs them when discovery has started.</summary>
    private void AddNamespace(string ns, IReadOnlyCollection<string>? services)
    {
        var watcher = new NamespaceWatcher(ns, services, _api, _options, _time, Metrics, _logger, _random, Hooks, _publisher.MarkDirty, MarkNamespaceDirty);
        var confirmer = new NamespaceConfirmer(
            watcher, _api, _options, _time, Metrics, _logger, _random, Hooks, _ => _publisher.PublishedAsync(), problem => ReportNamespace(ns, problem));
        lock (_running)
        {
            // Under the lock StartAsync starts the loops in: a namespace added while it starts is run exactly once.
            _confirmers[ns] = confirmer;
            _watchers[ns] = watcher;
            if (_running.Count > 0 && !_stop.IsCancellationRequested)
            {
                RunNamespace(watcher, confirmer);
            }
        }
    }

    private void MarkNamespaceDirty(string ns)
    {
        foreach (var registration in _sources.Values)
        {
            if (registration.Reference.Namespace == ns)
            {
                _publisher.MarkDirty(ns, registration.Reference.Name);
            }
        }
    }

    private void RunNamespace(NamespaceWatcher watcher, NamespaceConfirmer confirmer)
    {
        Run($"watch ({watcher.Namespace})", () => watcher.RunAsync(_stop.Token));
        Run($"confirmation ({watcher.Namespace})", () => confirmer.RunAsync(_stop.Token));
    }

    [LoggerMessage(EventId = 40, Level = LogLevel.Information, Message = "Following Service {Namespace}/{Service} from now on (asked for at run time).")]
    private static partial void LogFollowing(ILogger logger, string @namespace, string service);

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

            Run("publisher", () => _publisher.RunAsync(_stop.Token));
            foreach (var watcher in _watchers.Values)
            {
                RunNamespace(watcher, _confirmers[watcher.Namespace]);
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

        // A loop that ended with a defect has been reported by the liveness check; stopping is not the place to rethrow it.
        await Task.WhenAll(running).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
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
        foreach (var watcher in _watchers.Values)
        {
            watcher.Dispose();
        }

        Metrics.Dispose();
        if (_ownsClient)
        {
            _client.Dispose();
        }
    }

    internal NamespaceWatcher? Watcher(string ns) => _watchers.GetValueOrDefault(ns);

    internal IEnumerable<SourceRegistration> SourcesOf(string ns, string service) =>
        _sources.Values.Where(s => s.Reference.Namespace == ns && s.Reference.Name == service);

    private void Run(string name, Func<Task> loop)
    {
        var task = Task.Run(loop, CancellationToken.None);
        _running.Add(task);
        _loops[task] = name;
    }

    private string? WedgedReason(string ns)
    {
        if (!Started || _stop.IsCancellationRequested)
        {
            return null;
        }

        var watch = _watchers[ns].SinceLastActivity();
        if (watch > _options.WedgedAfter)
        {
            return $"the watch loop of {ns} has made no attempt for {watch.TotalSeconds:0} s";
        }

        var confirm = _confirmers[ns].SinceLastAttempt();
        return confirm > _options.WedgedAfter ? $"the confirmation loop of {ns} has made no attempt for {confirm.TotalSeconds:0} s" : null;
    }

    private void ReportNamespace(string ns, ConfirmationProblem problem)
    {
        foreach (var registration in _sources.Values)
        {
            if (registration.Reference.Namespace == ns)
            {
                if (problem == ConfirmationProblem.None)
                {
                    registration.Source.Confirm();
                }
                else
                {
                    registration.Source.ReportConfirmationProblem(problem);
                }
            }
        }
    }
}

/// <summary>A Service port and the source its endpoints are published to.</summary>
internal sealed record SourceRegistration(ServiceReference Reference, EndpointSource Source);

/// <summary>Where one namespace's view stands.</summary>
public enum ViewStatus
{
    /// <summary>Confirmed against the API server within <see cref="KubernetesDiscoveryOptions.StaleAfter"/>.</summary>
    Current,

    /// <summary>Unconfirmed past the bound because the API server cannot be reached or fails: the last good list is served, and the replica stays ready.</summary>
    StaleUnreachable,

    /// <summary>Unconfirmed past the bound although the API server answers: this replica is not converging, and turns unready.</summary>
    StaleNotConverging,

    /// <summary>Never listed since start.</summary>
    NeverSynced,

    /// <summary>Discovery's loops have stopped making attempts: the liveness check fails so the process is restarted.</summary>
    Wedged,
}

/// <summary>How fresh one namespace's view is.</summary>
/// <param name="Namespace">The namespace.</param>
/// <param name="ViewAge">Since the view was last confirmed against the API server; <see cref="TimeSpan.MaxValue"/> before the first.</param>
/// <param name="SecondsSinceLastLine">Since the watch delivered its last line (event, bookmark or error); infinity before the first.</param>
/// <param name="SecondsSinceLastList">Since the last successful full list; infinity before the first.</param>
/// <param name="Slices">EndpointSlices in the view.</param>
/// <param name="Status">Where the view stands.</param>
/// <param name="Problem">Why the latest confirmation failed, if it did.</param>
public sealed record NamespaceFreshness(string Namespace, TimeSpan ViewAge, double SecondsSinceLastLine, double SecondsSinceLastList, int Slices, ViewStatus Status, ConfirmationProblem Problem);
