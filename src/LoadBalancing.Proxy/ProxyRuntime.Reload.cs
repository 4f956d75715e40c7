using System.Collections.Concurrent;
using LoadBalancing.Proxy.Clusters;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy;

/// <summary>How a reload ended.</summary>
internal enum ReloadOutcome
{
    /// <summary>A new configuration is in service.</summary>
    Applied,

    /// <summary>The new configuration is invalid (or needs a restart); the last good one stays in service.</summary>
    Rejected,

    /// <summary>The configuration read is the one in service.</summary>
    Unchanged,
}

/// <summary>What a reload did, for the caller and /config.</summary>
internal sealed record ReloadResult(ReloadOutcome Outcome, long Generation, IReadOnlyList<string> Errors, IReadOnlyList<string> RestartNeeded);

/// <summary>The last reload that failed (null when a later one succeeded) and what waits for a restart.</summary>
internal sealed record ReloadStatus(DateTimeOffset? FailedAt, string? FailedSource, IReadOnlyList<string> Errors, IReadOnlyList<string> RestartNeeded)
{
    public static readonly ReloadStatus None = new(null, null, [], []);
}

internal sealed partial class ProxyRuntime
{
    // Retired clusters must not be polled more often than this: a request that read the old snapshot just before the
    // swap counts itself in flight a few instructions later.
    private static readonly TimeSpan DrainPoll = TimeSpan.FromMilliseconds(100);

    private static readonly string[] OutcomeNames = ["applied", "rejected", "unchanged"];

    private readonly ProxyOptions _startup;
    private readonly ClusterSourceRegistry _registrations;
    private readonly IReadOnlyList<ProxyRouteSource> _routeSources;

    /// <summary>The route sources added with <c>IProxyBuilder.AddRouteSource</c>, in order.</summary>
    public IReadOnlyList<ProxyRouteSource> RouteSources => _routeSources;
    private ProxyOptions _configured; // the configuration in service, before the route sources' sets join it

    /// <summary>The configuration in service as configured, before the route sources' sets join it.</summary>
    internal ProxyOptions Configured => _configured;

    /// <summary>
    /// Checks the routes' ASP.NET Core policies against how the proxy is hosted, on every reload: set when the proxy is
    /// mapped (the policies must exist) or used as middleware (which cannot enforce any). Returns errors with key paths.
    /// </summary>
    internal Func<ProxyOptions, IReadOnlyList<string>>? EndpointPolicyCheck { get; set; }
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private readonly ILogger _clusterLogger; // the clusters' endpoint changes: ejections, panic mode, the fallback
    private readonly Lock _reloading = new();
    private readonly Dictionary<string, (EndpointSource Source, TimeSpan? StalenessBound)> _resolved = new(StringComparer.Ordinal); // by cluster, or "service:" + Service

    private readonly ConcurrentDictionary<ProxyCluster, byte> _retired = new(ReferenceEqualityComparer.Instance);
    private readonly long[] _reloads = new long[3];
    private volatile ReloadStatus _status = ReloadStatus.None;

    /// <summary>The last failed reload and what needs a restart.</summary>
    public ReloadStatus Status => _status;

    /// <summary>Reloads by outcome (applied, rejected, unchanged), for the metrics.</summary>
    public long Reloads(ReloadOutcome outcome) => Volatile.Read(ref _reloads[(int)outcome]);

    public static string OutcomeName(ReloadOutcome outcome) => OutcomeNames[(int)outcome];

    /// <summary>Clusters taken out of service and still draining.</summary>
    public int RetiredClusters => _retired.Count;

    /// <summary>
    /// Validates <paramref name="options"/> in full and, only if all is well, publishes them as the configuration in
    /// service. <paramref name="loadErrors"/> are problems found reading them (with their key paths); any of them
    /// rejects the reload. Serialized: one reload at a time.
    /// </summary>
    public ReloadResult Reload(ProxyOptions options, IReadOnlyList<string> loadErrors, string source)
    {
        lock (_reloading)
        {
            var result = Apply(options, loadErrors, source);
            if (result.Outcome != ReloadOutcome.Rejected)
            {
                _configured = options;
            }

            return result;
        }
    }

    /// <summary>A route source published: the configuration in service and every source's set, again.</summary>
    private void OnRouteSourceChanged(ProxyRouteSource source)
    {
        lock (_reloading)
        {
            Apply(_configured, [], "route source " + source.Name);
        }
    }

    private ReloadResult Apply(ProxyOptions configured, IReadOnlyList<string> loadErrors, string source)
    {
        var errors = new List<string>(loadErrors);
        var options = loadErrors.Count == 0 ? RouteSourceMerge.MergeAndValidate(configured, _routeSources, _registrations.Sources.ContainsKey, errors, EndpointPolicyCheck) : configured;

        var current = _config;
        Plan? plan = null;
        if (errors.Count == 0)
        {
            plan = Plan(options, current);
            errors.AddRange(plan.Errors);
        }

        if (errors.Count > 0 || plan is null)
        {
            Interlocked.Increment(ref _reloads[(int)ReloadOutcome.Rejected]);
            _status = _status with { FailedAt = Time.GetUtcNow(), FailedSource = source, Errors = errors };
            foreach (var error in errors)
            {
                ReloadLog.Rejected(_logger, source, error);
            }

            return new ReloadResult(ReloadOutcome.Rejected, current.Generation, errors, _status.RestartNeeded);
        }

        var restart = RestartNeeded(options);
        foreach (var item in restart)
        {
            ReloadLog.RestartNeeded(_logger, item);
        }

        WarnUncheckedTls(options);
        var fingerprint = ProxyOptionsJson.Text(json => ProxyOptionsJson.WriteProxy(json, options, redact: false));
        if (fingerprint == current.Fingerprint && ProxyOptionsJson.Listeners(options) == ProxyOptionsJson.Listeners(current.Options))
        {
            Interlocked.Increment(ref _reloads[(int)ReloadOutcome.Unchanged]);
            _status = new ReloadStatus(null, null, [], restart);
            ReloadLog.Unchanged(_logger, source, current.Generation);
            return new ReloadResult(ReloadOutcome.Unchanged, current.Generation, [], restart);
        }

        var next = Commit(plan, options, current.Generation + 1, source, current, fingerprint);
        _config = next;
        foreach (var cluster in plan.Retire)
        {
            Retire(cluster, options.DrainTimeout);
        }

        Interlocked.Increment(ref _reloads[(int)ReloadOutcome.Applied]);
        _status = new ReloadStatus(null, null, [], restart);
        ReloadLog.Applied(_logger, next.Generation, source, plan.Kept.Count, plan.Create.Count, plan.Retire.Count);
        return new ReloadResult(ReloadOutcome.Applied, next.Generation, [], restart);
    }

    /// <summary>Every cluster that accepts unchecked certificates, at start and on every reload that is not rejected.</summary>
    private void WarnUncheckedTls(ProxyOptions options)
    {
        foreach (var (name, cluster) in options.Clusters)
        {
            if (cluster.Tls is { Enabled: true, SkipValidation: true })
            {
                Upstream.Tls.UpstreamTlsLog.SkipValidation(_clusterLogger, name);
            }
        }
    }

    private List<string> RestartNeeded(ProxyOptions options)
    {
        var restart = new List<string>();
        if (ProxyOptionsJson.Listeners(options) != ProxyOptionsJson.Listeners(_startup))
        {
            restart.Add($"{ProxyConfiguration.SectionName}:Listeners changed; restart to apply");
        }

        if (options.Admin.Enabled != _startup.Admin.Enabled || options.Admin.Url != _startup.Admin.Url)
        {
            restart.Add($"{ProxyConfiguration.SectionName}:Admin changed; restart to apply");
        }

        if (options.MaxRequestBodySize != _startup.MaxRequestBodySize)
        {
            restart.Add($"{ProxyConfiguration.SectionName}:MaxRequestBodySize changed; restart to apply");
        }

        var log = options.AccessLog;
        var logAtStart = _startup.AccessLog;
        if (log.Enabled != logAtStart.Enabled || log.Path != logAtStart.Path || log.Format != logAtStart.Format
            || log.Template != logAtStart.Template || log.SampleRate != logAtStart.SampleRate)
        {
            restart.Add($"{ProxyConfiguration.SectionName}:AccessLog changed; restart to apply");
        }

        if (options.Transport != _startup.Transport)
        {
            restart.Add($"{ProxyConfiguration.SectionName}:Transport changed; restart to apply");
        }

        if (options.DrainTimeout != _startup.DrainTimeout)
        {
            restart.Add($"{ProxyConfiguration.SectionName}:DrainTimeout changed; restart to apply (shutdown drains for the time set at start; retired clusters already use the new one)");
        }

        return restart;
    }

    /// <summary>
    /// Decides, without changing anything, which clusters stay, which are built anew and which retire. A cluster whose
    /// definition (apart from its static endpoints) is unchanged stays, with its balancer, endpoint state and pooled
    /// connections; its new static endpoints are published to its source.
    /// </summary>
    private Plan Plan(ProxyOptions options, ProxyConfigSnapshot? previous)
    {
        var plan = new Plan();
        foreach (var (name, cluster) in options.Clusters)
        {
            var key = $"{ProxyConfiguration.SectionName}:Clusters:{name}";
            (EndpointSource Source, TimeSpan? StalenessBound)? resolved;
            try
            {
                resolved = ResolveSource(name, cluster, previous is null);
            }
            catch (ArgumentException e)
            {
                plan.Errors.Add($"{key}:Kubernetes: {e.Message}");
                continue;
            }

            if (cluster.Kubernetes is not null && resolved is null)
            {
                plan.Errors.Add($"{key}:Kubernetes: no Kubernetes discovery is attached to this proxy (IProxyBuilder.UseServiceEndpointSources); ProxyHost attaches it when a cluster names a Service at start.");
                continue;
            }

            var registered = resolved is not null;
            ProxyCluster? old = null;
            previous?.ClustersByName.TryGetValue(name, out old);
            // A new zone changes every cluster's balancer: each is rebuilt over its source, as for any change to its core.
            if (old is not null && old.IsStaticSource != registered && previous!.Options.Zone == options.Zone)
            {
                // Unchanged, or changed only in how requests are forwarded: the same balancer, state and connections.
                var same = previous!.Definitions[name] == ProxyOptionsJson.Definition(cluster);
                if (same || ProxyOptionsJson.Core(previous.Options.Clusters[name]) == ProxyOptionsJson.Core(cluster))
                {
                    var endpointsChanged = !registered && ProxyOptionsJson.Endpoints(cluster) != ProxyOptionsJson.Endpoints(previous.Options.Clusters[name]);
                    plan.Kept[name] = (old, endpointsChanged ? cluster : null, same ? null : cluster);
                    continue;
                }
            }

            plan.Create[name] = (cluster, resolved, old is { IsStaticSource: true } && !registered ? old.Source : null);
            if (old is not null)
            {
                plan.Retire.Add(old);
            }
        }

        if (previous is not null)
        {
            foreach (var (name, old) in previous.ClustersByName)
            {
                if (!options.Clusters.ContainsKey(name))
                {
                    plan.Retire.Add(old);
                }
            }
        }

        return plan;
    }

    private ProxyConfigSnapshot Commit(Plan plan, ProxyOptions options, long generation, string source, ProxyConfigSnapshot? previous, string? fingerprint = null)
    {
        var clusters = new Dictionary<string, ProxyCluster>(StringComparer.Ordinal);
        foreach (var (name, (cluster, staticOptions, reconfigure)) in plan.Kept)
        {
            if (staticOptions is not null)
            {
                // The source keeps the state (counters, ejections) of endpoints that stay.
                cluster.Source.Publish(staticOptions.Endpoints.Select(e => e.ToEndpoint()));
            }

            if (reconfigure is not null)
            {
                cluster.Reconfigure(reconfigure);
            }

            clusters[name] = cluster;
        }

        foreach (var (name, (clusterOptions, resolved, staticSource)) in plan.Create)
        {
            EndpointSource endpoints;
            TimeSpan? stalenessBound = null;
            if (resolved is { } registered)
            {
                (endpoints, stalenessBound) = registered;
            }
            else
            {
                endpoints = staticSource ?? new EndpointSource(name, Time);
                endpoints.Publish(clusterOptions.Endpoints.Select(e => e.ToEndpoint()));
            }

            var created = new ProxyCluster(name, clusterOptions, endpoints, Blocks, Time, Metrics, _clusterLogger, Probers, options.Zone)
            {
                StalenessBound = stalenessBound,
                IsStaticSource = resolved is null,
                AddedByReload = resolved is not null && previous is not null && AddedByReload(endpoints, previous),
            };
            if (previous is not null && previous.ClustersByName.TryGetValue(name, out var predecessor))
            {
                // A cluster rebuilt over the same source keeps its ejections: an endpoint ejected under the old
                // options must not take traffic again just because, say, the algorithm changed.
                created.Balancer.InheritOutlierState(predecessor.Balancer);
            }

            clusters[name] = created;
        }

        return new ProxyConfigSnapshot(options, clusters, generation, source, Time.GetUtcNow(), fingerprint, previous);
    }

    /// <summary>
    /// Takes a cluster out of service: requests that picked it before the swap finish on it; its pooled connections
    /// close once none is in flight, or after the drain timeout.
    /// </summary>
    private void Retire(ProxyCluster cluster, TimeSpan drainTimeout)
    {
        _retired[cluster] = 0;
        _ = Task.Run(async () =>
        {
            var deadline = Time.GetUtcNow() + drainTimeout;
            do
            {
                await Task.Delay(DrainPoll, Time).ConfigureAwait(false);
            }
            while (cluster.Metrics.InFlight > 0 && Time.GetUtcNow() < deadline);

            if (_retired.TryRemove(cluster, out _))
            {
                cluster.Dispose();
            }
        });
    }

    /// <summary>A source is new to the proxy unless a cluster in service reads it; a rebuilt cluster inherits its predecessor's answer.</summary>
    private static bool AddedByReload(EndpointSource source, ProxyConfigSnapshot previous)
    {
        foreach (var cluster in previous.Clusters)
        {
            if (ReferenceEquals(cluster.Source, source))
            {
                return cluster.AddedByReload;
            }
        }

        return true;
    }

    /// <summary>
    /// The source registered for a cluster: its own (<c>UseEndpointSource</c>, while it names the Service it started
    /// with), or the one the Service resolver returns for its Service; null for a static cluster. Resolved once and
    /// reused, so a cluster rebuilt by a reload keeps its source and endpoint state.
    /// </summary>
    private (EndpointSource Source, TimeSpan? StalenessBound)? ResolveSource(string name, ClusterOptions cluster, bool atStart)
    {
        var startKubernetes = _startup.Clusters.TryGetValue(name, out var atStartOptions) ? atStartOptions.Kubernetes : null;
        if (_registrations.Sources.TryGetValue(name, out var registration) && (atStart || SameKubernetes(cluster.Kubernetes, startKubernetes)))
        {
            if (!_resolved.TryGetValue(name, out var own))
            {
                _resolved[name] = own = (registration.Source(_services), registration.StalenessBound);
            }

            return own;
        }

        if (cluster.Kubernetes is not { } service || _registrations.ServiceSources is not { } resolver)
        {
            return null;
        }

        var key = $"service:{service.Namespace}/{service.Service}:{service.Port}";
        if (!_resolved.TryGetValue(key, out var resolved))
        {
            _resolved[key] = resolved = (resolver.Resolve(_services, service), resolver.StalenessBound);
        }

        return resolved;
    }

    private static bool SameKubernetes(KubernetesServiceOptions? a, KubernetesServiceOptions? b) =>
        a is null ? b is null : b is not null && a.Namespace == b.Namespace && a.Service == b.Service && a.Port == b.Port;
}

/// <summary>What a new configuration does to the clusters in service.</summary>
internal sealed class Plan
{
    public List<string> Errors { get; } = [];

    /// <summary>Clusters that stay; with the new options when their static endpoints changed and are to be published.</summary>
    public Dictionary<string, (ProxyCluster Cluster, ClusterOptions? StaticOptions, ClusterOptions? Reconfigure)> Kept { get; } = new(StringComparer.Ordinal);

    /// <summary>Clusters to build: from a registered source, or static (over the retired cluster's source, if it was static).</summary>
    public Dictionary<string, (ClusterOptions Options, (EndpointSource Source, TimeSpan? StalenessBound)? Registered, EndpointSource? StaticSource)> Create { get; } = new(StringComparer.Ordinal);

    public List<ProxyCluster> Retire { get; } = [];
}

internal static partial class ReloadLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Configuration generation {Generation} in service (from {Source}): {Kept} clusters kept, {Created} built, {Retired} retired.")]
    public static partial void Applied(ILogger logger, long generation, string source, int kept, int created, int retired);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Configuration reload from {Source} rejected, the last good configuration stays in service: {Problem}")]
    public static partial void Rejected(ILogger logger, string source, string problem);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "{Item}")]
    public static partial void RestartNeeded(ILogger logger, string item);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Cannot watch {File} for changes ({Reason}); checking it every {Interval} instead.")]
    public static partial void WatchFailed(ILogger logger, string file, string reason, TimeSpan interval);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Configuration reload from {Source}: unchanged, generation {Generation} stays in service.")]
    public static partial void Unchanged(ILogger logger, string source, long generation);
}
