using System.Collections.Concurrent;
using LoadBalancing.Proxy.Forwarding;
using LoadBalancing.Proxy.Health;
using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Upstream;
using LoadBalancing.Proxy.Upstream.Tls;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoadBalancing.Proxy.Clusters;

/// <summary>
/// One cluster at run time: its endpoint source and balancer, the request-key policy, and a pool of
/// upstream connections per endpoint (kept by the endpoint's state, which survives endpoint-set updates).
/// </summary>
internal sealed class ProxyCluster : IDisposable
{
    private readonly ConcurrentDictionary<EndpointState, UpstreamPool> _pools = new(ReferenceEqualityComparer.Instance);
    private readonly PinnedBlockPool _blocks;
    private readonly TimeProvider _time;
    private readonly IDisposable _subscription;
    private readonly ITimer _sweeper;
    private readonly ILogger _logger;
    private UpstreamPool? _fallbackPool;
    private int _onFallback; // 1 from a request sent to the fallback until an endpoint answers one: the log's transitions
    private volatile ForwardingSettings _forwarding;

    public ProxyCluster(string name, ClusterOptions options, EndpointSource source, PinnedBlockPool blocks, TimeProvider time, ProxyMetrics metrics, ILogger? logger = null, HealthProberRegistry? probers = null, string? zone = null)
    {
        Name = name;
        _logger = logger ?? NullLogger.Instance;
        Metrics = new ClusterMetrics(name, metrics.UpstreamDuration);
        _forwarding = new ForwardingSettings(options);
        Tls = UpstreamTlsSettings.Create(name, options.Tls, time, _logger);
        IsMultiplexed = options.Protocol == UpstreamProtocol.Http2 || (options.Protocol == UpstreamProtocol.Auto && Tls is not null);
        Source = source;
        _blocks = blocks;
        _time = time;
        BackendEndpoint? fallback = null;
        if (options.Fallback is not null && HostPort.TryParse(options.Fallback, out var host, out var port, out _))
        {
            fallback = new BackendEndpoint(host, port);
        }

        Balancer = new Balancer(source, options.ToBalancerOptions(fallback, zone), time);
        Balancer.Changed += OnBalancerChanged;
        _subscription = source.Subscribe(RemoveGonePools);
        if (probers is not null && HealthCheckSettings.From(options.HealthCheck) is { } health)
        {
            var probeTls = options.HealthCheck!.UseTls != false && options.Tls is { Enabled: true } ? options.Tls : null;
            HealthChecks = new ClusterHealthChecks(name, health, probeTls, Balancer, probers);
        }

        var sweep = options.PooledConnectionIdleTimeout / 2;
        _sweeper = time.CreateTimer(static s => ((ProxyCluster)s!).SweepIdle(), this, sweep, sweep);
    }

    public string Name { get; }

    /// <summary>
    /// Whether requests go out over HTTP/2 through each endpoint's multiplexed client rather than the proxy's own
    /// HTTP/1.1 connections. Fixed for the cluster's life: a reload that changes the protocol builds a new cluster.
    /// </summary>
    public bool IsMultiplexed { get; }

    /// <summary>The cluster's options. A reload that changes only how requests are forwarded replaces them in place.</summary>
    public ClusterOptions Options => _forwarding.Options;

    public EndpointSource Source { get; }

    public Balancer Balancer { get; }

    public HashKeyPolicy HashKey => _forwarding.HashKey;

    /// <summary>The affinity cookie; null when the cluster has no session affinity.</summary>
    public SessionCookie? SessionCookie => _forwarding.SessionCookie;

    /// <summary>The active health check; null when the cluster has none.</summary>
    public ClusterHealthChecks? HealthChecks { get; }

    public ClusterMetrics Metrics { get; }

    /// <summary>The cluster's upstream TLS (options cached for every connection, files watched); null for plain HTTP.</summary>
    public UpstreamTlsSettings? Tls { get; }

    /// <summary>The retry policy of routes that set none: the cluster's attempts, on connect failures and resets.</summary>
    public RetryPolicy DefaultRetry => _forwarding.DefaultRetry;

    /// <summary>The gRPC statuses that count against an endpoint (<see cref="GrpcOptions.FailureStatuses"/>), one bit per code.</summary>
    public int GrpcFailures => _forwarding.GrpcFailures;

    /// <summary>
    /// Takes options that differ only in how requests are forwarded (timeouts, attempts, host header, response head
    /// limit, hash key): the balancer, endpoint state and pooled connections stay. A request already forwarding keeps
    /// the options it read.
    /// </summary>
    public void Reconfigure(ClusterOptions options) => _forwarding = new ForwardingSettings(options);

    /// <summary>Retries in flight to this cluster, bounded by the routes' budgets.</summary>
    public RetryBudget RetryBudget { get; } = new();

    /// <summary>Whether the endpoints come from configuration (published by the proxy) rather than a registered source.</summary>
    public bool IsStaticSource { get; init; } = true;

    /// <summary>How old the endpoint list may be before the cluster counts as stale; null for static lists.</summary>
    public TimeSpan? StalenessBound { get; init; }

    /// <summary>Whether the endpoint list is older than <see cref="StalenessBound"/>.</summary>
    public bool IsStale => StalenessBound is { } bound && (Source.Staleness() is not { } age || age > bound);

    /// <summary>
    /// Where the endpoint list stands, one answer per cause: <c>static</c>, <c>current</c>, <c>never-synced</c>,
    /// <c>stale-unreachable</c> (discovery cannot reach its source of truth: serve the last good list, stay ready —
    /// every replica is in the same position) or <c>stale-not-converging</c> (the source answers but this replica's
    /// list does not converge: turn unready so traffic moves to replicas that are current).
    /// </summary>
    public string Freshness => StalenessBound is null ? "static"
        : Source.Staleness() is null ? "never-synced"
        : !IsStale ? "current"
        : Source.LastConfirmationProblem == ConfirmationProblem.SourceUnreachable ? "stale-unreachable"
        : "stale-not-converging";

    /// <summary>Built by a reload rather than at start.</summary>
    public bool AddedByReload { get; init; }

    /// <summary>
    /// Whether this cluster keeps the proxy from being ready: stale for a reason of this replica's own, or never
    /// synced since start. A cluster a reload added that has not synced yet does not: a new Service that cannot be
    /// listed (a typo, missing permissions) must not take a serving replica out of rotation; it answers 503 itself.
    /// </summary>
    public bool BlocksReadiness => Freshness is "stale-not-converging" || (Freshness is "never-synced" && !AddedByReload);

    /// <summary>The last failure seen per endpoint, for the admin view.</summary>
    public ConcurrentDictionary<EndpointState, (DateTimeOffset At, string Kind, string Message)> LastErrors { get; } = new(ReferenceEqualityComparer.Instance);

    /// <param name="state">The endpoint.</param>
    /// <param name="kind">What failed, in the vocabulary of <c>/backends</c>: <c>connect_refused</c>, <c>connect_unreachable</c>,
    /// <c>connect_timeout</c>, <c>connect_reset</c>, <c>tls_untrusted</c>, <c>tls_name_mismatch</c>, <c>tls_expired</c>,
    /// <c>tls_handshake</c>, <c>reset</c>, <c>timeout</c>, <c>bad_response</c>.</param>
    /// <param name="message">The message the client was (or would have been) given.</param>
    public void RecordError(EndpointState? state, string kind, string message)
    {
        if (state is not null)
        {
            LastErrors[state] = (_time.GetUtcNow(), kind, message);
        }
    }

    /// <summary>The running totals of an endpoint, or null before its first attempt.</summary>
    public EndpointTotals? Totals(EndpointState state) => _pools.TryGetValue(state, out var pool) ? pool.Totals : null;

    /// <summary>A request is going to the fallback: logged on the first since an endpoint last answered.</summary>
    public void FallbackUsed()
    {
        if (Volatile.Read(ref _onFallback) == 0 && Interlocked.Exchange(ref _onFallback, 1) == 0)
        {
            ClusterLog.FallbackUsed(_logger, Name, Options.Fallback ?? "");
        }
    }

    /// <summary>An endpoint (not the fallback) answered: one read per request, a log line only when leaving the fallback.</summary>
    public void EndpointAnswered()
    {
        if (Volatile.Read(ref _onFallback) != 0 && Interlocked.Exchange(ref _onFallback, 0) != 0)
        {
            ClusterLog.FallbackLeft(_logger, Name, Options.Fallback ?? "");
        }
    }

    private void OnBalancerChanged(BalancerChange change)
    {
        var endpoint = change.Endpoint is { } e ? $"{e.Address}:{e.Port}" : "";
        switch (change.Kind)
        {
            case BalancerChangeKind.EndpointEjected:
                ClusterLog.EndpointEjected(_logger, Name, endpoint, change.Reason, change.Until);
                break;
            case BalancerChangeKind.EndpointReturned:
                ClusterLog.EndpointReturned(_logger, Name, endpoint);
                break;
            case BalancerChangeKind.PanicEntered:
                ClusterLog.PanicEntered(_logger, Name, change.Reason);
                break;
            case BalancerChangeKind.PanicLeft:
                ClusterLog.PanicLeft(_logger, Name, change.Reason);
                break;
            case BalancerChangeKind.EndpointUnhealthy:
                ClusterLog.EndpointUnhealthy(_logger, Name, endpoint, change.Reason);
                break;
            case BalancerChangeKind.EndpointHealthy:
                ClusterLog.EndpointHealthy(_logger, Name, endpoint, change.Reason);
                break;
        }
    }

    /// <summary>The connection pool for a picked endpoint.</summary>
    public UpstreamPool GetPool(in PickResult pick)
    {
        if (pick.Status == PickStatus.Fallback)
        {
            return _fallbackPool ?? CreateFallbackPool(pick.Endpoint!);
        }

        return _pools.TryGetValue(pick.State!, out var pool)
            ? pool
            : _pools.GetOrAdd(pick.State!, static (_, arg) => arg.Self.CreatePool(arg.Endpoint), (Self: this, Endpoint: pick.Endpoint!));
    }

    /// <summary>Idle connections per endpoint, for the admin view.</summary>
    public int IdleConnections(EndpointState state) => _pools.TryGetValue(state, out var pool) ? pool.IdleCount : 0;

    /// <summary>What a reload may replace in place, swapped with one reference write.</summary>
    private sealed class ForwardingSettings(ClusterOptions options)
    {
        public ClusterOptions Options { get; } = options;

        public HashKeyPolicy HashKey { get; } = new(options.HashKey);

        public SessionCookie? SessionCookie { get; } = SessionCookie.For(options.SessionAffinity);

        public RetryPolicy DefaultRetry { get; } = RetryPolicy.ForCluster(options);

        /// <summary>The gRPC statuses that count against an endpoint, one bit per code.</summary>
        public int GrpcFailures { get; } = ((IEnumerable<GrpcStatusCode>?)options.Grpc.FailureStatuses ?? GrpcOptions.DefaultFailureStatuses)
            .Aggregate(0, static (mask, code) => mask | (1 << (int)code));
    }

    private UpstreamPool CreateFallbackPool(BackendEndpoint endpoint)
    {
        var pool = CreatePool(endpoint);
        return Interlocked.CompareExchange(ref _fallbackPool, pool, null) ?? pool;
    }

    private UpstreamPool CreatePool(BackendEndpoint endpoint) => IsMultiplexed
        ? new UpstreamPool(endpoint, _blocks, Metrics, _time, 0, Options.PooledConnectionIdleTimeout)
        {
            Multiplexed = new Upstream.Multiplexed.MultiplexedClient(endpoint, UpstreamPool.RemoteEndPointOf(endpoint), () => Options, _time, Tls),
        }
        : new UpstreamPool(endpoint, _blocks, Metrics, _time, Options.MaxIdleConnectionsPerEndpoint, Options.PooledConnectionIdleTimeout, Tls);

    private void RemoveGonePools(EndpointSet set)
    {
        var current = new HashSet<EndpointState>(set.States, ReferenceEqualityComparer.Instance);
        foreach (var (state, pool) in _pools)
        {
            if (!current.Contains(state) && _pools.TryRemove(state, out _))
            {
                pool.Dispose();
            }
        }

        foreach (var state in LastErrors.Keys)
        {
            if (!current.Contains(state))
            {
                LastErrors.TryRemove(state, out _);
            }
        }
    }

    private void SweepIdle()
    {
        foreach (var pool in _pools.Values)
        {
            pool.CloseExpired();
        }

        _fallbackPool?.CloseExpired();
    }

    public void Dispose()
    {
        HealthChecks?.Dispose();
        _sweeper.Dispose();
        Tls?.Dispose();
        _subscription.Dispose();
        Balancer.Changed -= OnBalancerChanged;
        Balancer.Dispose();
        foreach (var pool in _pools.Values)
        {
            pool.Dispose();
        }

        _fallbackPool?.Dispose();
    }
}
