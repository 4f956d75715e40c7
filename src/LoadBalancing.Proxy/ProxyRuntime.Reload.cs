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
    private readonly IReadOnlyDictionary<string, ClusterSourceRegistration> _registrations;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private readonly Lock _reloading = new();
    private readonly Dictionary<string, (EndpointSource Source, TimeSpan? StalenessBound)> _resolved = new(StringComparer.Ordinal);
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
            var errors = new List<string>(loadErrors);
            if (errors.Count == 0)
            {
                errors.AddRange(ProxyOptionsValidation.GetErrors(options, ProxyConfiguration.SectionName));
            }

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

            var fingerprint = ProxyOptionsJson.Text(json => ProxyOptionsJson.WriteProxy(json, options, redact: false));
            if (fingerprint == current.Fingerprint && ProxyOptionsJson.Listeners(options) == ProxyOptionsJson.Listeners(current.Options))
            {
                Interlocked.Increment(ref _reloads[(int)ReloadOutcome.Unchanged]);
                _status = new ReloadStatus(null, null, [], restart);
                ReloadLog.Unchanged(_logger, source, current.Generation);
                return new ReloadResult(ReloadOutcome.Unchanged, current.Generation, [], restart);
            }

            var next = Commit(plan, options, current.Generation + 1, source, fingerprint);
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
            var registered = _registrations.ContainsKey(name) && SameKubernetes(cluster.Kubernetes, _startup.Clusters.TryGetValue(name, out var atStart) ? atStart.Kubernetes : null);
            if (cluster.Kubernetes is not null && !registered)
            {
                plan.Errors.Add(previous is null
                    ? $"{key}:Kubernetes: no Kubernetes discovery is attached to this cluster (IProxyBuilder.UseEndpointSource); ProxyHost attaches it when the Kubernetes section is configured."
                    : $"{key}:Kubernetes: discovery watches only the Services the proxy started with; a cluster fed by another Service needs a restart.");
                continue;
            }

            ProxyCluster? old = null;
            previous?.ClustersByName.TryGetValue(name, out old);
            if (old is not null && old.IsStaticSource != registered && previous!.Definitions[name] == ProxyOptionsJson.Definition(cluster))
            {
                var endpointsChanged = !registered && ProxyOptionsJson.Endpoints(cluster) != ProxyOptionsJson.Endpoints(previous.Options.Clusters[name]);
                plan.Kept[name] = (old, endpointsChanged ? cluster : null);
                continue;
            }

            plan.Create[name] = (cluster, registered, old is { IsStaticSource: true } && !registered ? old.Source : null);
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

    private ProxyConfigSnapshot Commit(Plan plan, ProxyOptions options, long generation, string source, string? fingerprint = null)
    {
        var clusters = new Dictionary<string, ProxyCluster>(StringComparer.Ordinal);
        foreach (var (name, (cluster, staticOptions)) in plan.Kept)
        {
            if (staticOptions is not null)
            {
                // The source keeps the state (counters, ejections) of endpoints that stay.
                cluster.Source.Publish(staticOptions.Endpoints.Select(e => e.ToEndpoint()));
            }

            clusters[name] = cluster;
        }

        foreach (var (name, (clusterOptions, registered, staticSource)) in plan.Create)
        {
            EndpointSource endpoints;
            TimeSpan? stalenessBound = null;
            if (registered)
            {
                if (!_resolved.TryGetValue(name, out var resolved))
                {
                    var registration = _registrations[name];
                    _resolved[name] = resolved = (registration.Source(_services), registration.StalenessBound);
                }

                (endpoints, stalenessBound) = resolved;
            }
            else
            {
                endpoints = staticSource ?? new EndpointSource(name, Time);
                endpoints.Publish(clusterOptions.Endpoints.Select(e => e.ToEndpoint()));
            }

            clusters[name] = new ProxyCluster(name, clusterOptions, endpoints, Blocks, Time, Metrics) { StalenessBound = stalenessBound, IsStaticSource = !registered };
        }

        return new ProxyConfigSnapshot(options, clusters, generation, source, Time.GetUtcNow(), fingerprint);
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

    private static bool SameKubernetes(KubernetesServiceOptions? a, KubernetesServiceOptions? b) =>
        a is null ? b is null : b is not null && a.Namespace == b.Namespace && a.Service == b.Service && a.Port == b.Port;
}

/// <summary>What a new configuration does to the clusters in service.</summary>
internal sealed class Plan
{
    public List<string> Errors { get; } = [];

    /// <summary>Clusters that stay; with the new options when their static endpoints changed and are to be published.</summary>
    public Dictionary<string, (ProxyCluster Cluster, ClusterOptions? StaticOptions)> Kept { get; } = new(StringComparer.Ordinal);

    /// <summary>Clusters to build: from a registered source, or static (over the retired cluster's source, if it was static).</summary>
    public Dictionary<string, (ClusterOptions Options, bool Registered, EndpointSource? StaticSource)> Create { get; } = new(StringComparer.Ordinal);

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
