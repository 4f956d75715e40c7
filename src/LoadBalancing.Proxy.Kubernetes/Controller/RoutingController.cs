using LoadBalancing.Proxy.Kubernetes.Api;
using LoadBalancing.Proxy.Kubernetes.Status;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Kubernetes.Controller;

/// <summary>
/// Runs a controller's watches and turns what they hold into routes: once every watch has listed, and again after
/// any change (bursts coalesced over <see cref="CoalesceWindow"/>), it rebuilds the whole set from the objects,
/// publishes it (the proxy runtime tells an unchanged configuration and leaves it in service), and offers the status
/// the objects should carry to the status writer. Rebuilding everything from the current objects, rather than patching, keeps the result a pure function
/// of the cluster's state: nothing a missed or reordered event did can linger.
/// </summary>
internal abstract partial class RoutingController : ProxyRouteSource
{
    /// <summary>Changes that arrive together (a rollout touching many objects) produce one rebuild.</summary>
    public static readonly TimeSpan CoalesceWindow = TimeSpan.FromMilliseconds(50);

    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IStatusSink? _status;
    private readonly Func<ProxyRouteSet, CancellationToken, Task>? _warmUp;
    private TaskCompletionSource _changed = NewSignal();
    private HashSet<string> _lastProblems = new(StringComparer.Ordinal);
    private long _rebuilds;
    private TaskCompletionSource _rebuilt = NewSignal();
    private readonly TaskCompletionSource _firstPublish = NewSignal();

    /// <param name="name">The source's name.</param>
    /// <param name="time">The clock.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="status">Takes the status objects should carry; null when status is not written.</param>
    /// <param name="warmUp">
    /// Called with a set before it is published: starts discovery of the Services its clusters name and waits
    /// (bounded) for their first endpoints, so a new route is not served with an empty cluster for the time a list
    /// takes.
    /// </param>
    protected RoutingController(string name, TimeProvider time, ILogger logger, IStatusSink? status, Func<ProxyRouteSet, CancellationToken, Task>? warmUp)
        : base(name)
    {
        _time = time;
        _logger = logger;
        _status = status;
        _warmUp = warmUp;
    }

    /// <summary>The watches, each created with <see cref="Changed"/> as its change callback.</summary>
    public abstract IReadOnlyList<IObjectWatch> Watches { get; }

    /// <summary>How many times the routes were rebuilt from the objects.</summary>
    public long Rebuilds => Interlocked.Read(ref _rebuilds);

    /// <summary>Completes when the first set is published.</summary>
    public Task FirstPublish => _firstPublish.Task;

    /// <summary>Completes after the next rebuild (tests and benchmarks wait on it instead of polling).</summary>
    public Task NextRebuild => Volatile.Read(ref _rebuilt).Task;

    /// <summary>The problems of the last rebuild, one line each naming its object.</summary>
    public IReadOnlyCollection<string> Problems => _lastProblems;

    /// <summary>Where the certificates this controller's objects name are loaded; null when no listener serves TLS.</summary>
    public Tls.KubernetesCertificates? Certificates { get; init; }

    /// <summary>The certificates the objects of the last rebuild name (set by <see cref="Rebuild"/>).</summary>
    protected IReadOnlyList<Tls.WantedCertificate> WantedCertificates { get; set; } = [];

    /// <summary>Every watch's health, for <c>/backends</c>: the controller's own, then the certificate loader's.</summary>
    public override IReadOnlyList<RouteSourceFeed> Feeds =>
    [
        .. Watches.Concat(Certificates?.Watches ?? []).Select(w => w.Health).Select(h => new RouteSourceFeed(
            h.Namespace is null ? h.Kind : $"{h.Kind} in {h.Namespace}", h.Synced, h.Watching, h.SinceLastLine, h.SinceLastList, h.Objects, h.Unreadable, h.Missed, h.LastError)),
    ];

    /// <summary>Asks for a rebuild: something outside the watches that the routes or status depend on changed.</summary>
    public void SignalChange() => Changed();

    /// <summary>Called by the watches on every change.</summary>
    protected void Changed()
    {
        Volatile.Read(ref _changed).TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// A route built from an object whose newest version cannot be read is the last good version's: its origin says so,
    /// with the version that could not be read.
    /// </summary>
    private void MarkStale(ProxyRouteSet set)
    {
        var unreadable = new Dictionary<(string Kind, ObjectKey Key), (string Problem, string? Version)>();
        foreach (var watch in Watches.OfType<IObjectWatchProblems>())
        {
            foreach (var (key, problem) in watch.Problems)
            {
                unreadable[(watch.Kind.Kind, key)] = (problem, watch.VersionOf(key));
            }
        }

        if (unreadable.Count == 0)
        {
            return;
        }

        foreach (var route in set.Routes)
        {
            if (route.Origin is { } origin && unreadable.TryGetValue((origin.Kind, ObjectKey.Of(origin.Namespace, origin.Name)), out var why))
            {
                route.Origin = origin with
                {
                    Problem = $"resourceVersion {why.Version} cannot be read ({why.Problem}); this route is resourceVersion {origin.ResourceVersion}'s, the last good one.",
                };
            }
        }
    }

    /// <summary>Builds the routes, the status the objects should have, and the problems, from the watches' objects.</summary>
    protected abstract (ProxyRouteSet Set, IReadOnlyList<DesiredStatus> Statuses, IReadOnlyList<string> Problems) Rebuild();

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var watches = Watches.Select(w => w.RunAsync(cancellationToken)).ToArray();
        try
        {
            await Task.WhenAll(Watches.Select(w => w.WhenSyncedAsync(cancellationToken))).ConfigureAwait(false);
            while (!cancellationToken.IsCancellationRequested)
            {
                // A change during the rebuild completes the new signal: nothing is lost between the two.
                Volatile.Write(ref _changed, NewSignal());
                await RebuildAndPublishAsync(cancellationToken).ConfigureAwait(false);
                await Volatile.Read(ref _changed).Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                await Task.Delay(CoalesceWindow, _time, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }

        await Task.WhenAll(watches).ConfigureAwait(false);
    }

    private async Task RebuildAndPublishAsync(CancellationToken cancellationToken)
    {
        (ProxyRouteSet Set, IReadOnlyList<DesiredStatus> Statuses, IReadOnlyList<string> Problems) built;
        try
        {
            built = Rebuild();
        }
        catch (Exception e)
        {
            // A defect, not bad input (translators report that as problems): keep the routes in service.
            LogRebuildFailed(_logger, Name, e);
            return;
        }

        Interlocked.Increment(ref _rebuilds);
        MarkStale(built.Set);
        var problems = new HashSet<string>(built.Problems, StringComparer.Ordinal);
        foreach (var problem in problems.Except(_lastProblems))
        {
            LogProblem(_logger, Name, problem);
        }

        _lastProblems = problems;
        Certificates?.Want(Name, WantedCertificates);
        if (_warmUp is not null)
        {
            await _warmUp(built.Set, cancellationToken).ConfigureAwait(false);
        }

        LogPublishing(_logger, Name, built.Set.Routes.Count, built.Set.Clusters.Count);
        Publish(built.Set);
        _firstPublish.TrySetResult();

        _status?.Offer(Name, built.Statuses);
        Interlocked.Exchange(ref _rebuilt, NewSignal()).TrySetResult();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Building the {Source} routes failed; the routes in service are kept.")]
    private static partial void LogRebuildFailed(ILogger logger, string source, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Source}: {Problem}")]
    private static partial void LogProblem(ILogger logger, string source, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Source}: publishing {Routes} routes over {Clusters} clusters.")]
    private static partial void LogPublishing(ILogger logger, string source, int routes, int clusters);
}

/// <summary>Takes the status objects should carry; writes it when this replica leads.</summary>
internal interface IStatusSink
{
    void Offer(string source, IReadOnlyList<DesiredStatus> statuses);
}
