using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using LoadBalancing.Proxy.Clusters;
using LoadBalancing.Proxy.Forwarding;
using LoadBalancing.Proxy.Routing;
using LoadBalancing.Proxy.Upstream;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoadBalancing.Proxy;

/// <summary>
/// Everything the proxy runs with: the configuration snapshot in service (routes and clusters), the forwarder and
/// proxy-wide counters. Reloads (ProxyRuntime.Reload.cs) publish a new snapshot with one reference write.
/// </summary>
internal sealed partial class ProxyRuntime : IDisposable
{
    private long _noRoute;
    private volatile bool _draining;
    private volatile ProxyConfigSnapshot _config;

    public ProxyRuntime(ProxyOptions options, ClusterSourceRegistry sources, IServiceProvider services, TimeProvider time, IMeterFactory meterFactory)
    {
        Time = time;
        Started = time.GetUtcNow();
        Probers = new Health.HealthProberRegistry(time);
        Metrics = new Metrics.ProxyMetrics(meterFactory);
        _startup = options;
        _configured = options;
        _registrations = sources;
        _services = services;
        _logger = (services.GetService(typeof(ILoggerFactory)) as ILoggerFactory)?.CreateLogger("LoadBalancing.Proxy.Configuration") ?? NullLogger.Instance;
        _clusterLogger = (services.GetService(typeof(ILoggerFactory)) as ILoggerFactory)?.CreateLogger("LoadBalancing.Proxy.Clusters") ?? NullLogger.Instance;
        _routeSources = [.. sources.RouteSources.Select(create => create(services))];
        var errors = new List<string>();
        var merged = RouteSourceMerge.MergeAndValidate(options, _routeSources, sources.Sources.ContainsKey, errors);

        var plan = errors.Count == 0 ? Plan(merged, previous: null) : null;
        if (plan is null || plan.Errors.Count > 0)
        {
            throw new ProxyConfigurationException([.. errors, .. plan?.Errors ?? []]);
        }

        _config = Commit(plan, merged, generation: 1, "startup", previous: null);
        WarnUncheckedTls(merged);
        foreach (var routeSource in _routeSources)
        {
            routeSource.OnChanged(() => OnRouteSourceChanged(routeSource));
        }
        Forwarder = new HttpForwarder(time);
        MultiplexedForwarder = new Forwarding.Multiplexed.MultiplexedForwarder(time);
        Metrics.Observe(this);
        Meters = new Admin.MeterExporter(Metrics);
    }

    /// <summary>The configuration in service. A request reads it once, at its start.</summary>
    public ProxyConfigSnapshot Config => _config;

    /// <summary>The options in service.</summary>
    public ProxyOptions Options => _config.Options;

    /// <summary>The upstream connections' receive and send buffers, shared by every cluster.</summary>
    public PinnedBlockPool Blocks { get; } = new();

    public TimeProvider Time { get; }

    /// <summary>The active health checks' probers, shared by every cluster and configuration generation.</summary>
    public Health.HealthProberRegistry Probers { get; }

    public DateTimeOffset Started { get; }

    /// <summary>The clusters in service (the current snapshot's).</summary>
    public IReadOnlyList<ProxyCluster> Clusters => _config.Clusters;

    /// <summary>The routes in service (the current snapshot's).</summary>
    public RouteTable Routes => _config.Routes;

    public HttpForwarder Forwarder { get; }

    /// <summary>The forwarder of clusters that speak HTTP/2 to their endpoints.</summary>
    public Forwarding.Multiplexed.MultiplexedForwarder MultiplexedForwarder { get; }

    /// <summary>The <c>LoadBalancing.Proxy</c> meter's instruments, over the counters below and the clusters'.</summary>
    public Metrics.ProxyMetrics Metrics { get; }

    /// <summary>This proxy's meter and the other LoadBalancing meters (Kubernetes discovery), for /metrics.</summary>
    public Admin.MeterExporter Meters { get; }

    public long NoRouteRequests => Volatile.Read(ref _noRoute);

    /// <summary>Requests refused with 400 for their framing, before routing.</summary>
    public Metrics.RequestRejections Rejections { get; } = new();

    /// <summary>Set when shutdown starts, so readiness flips before the listeners close.</summary>
    public bool Draining
    {
        get => _draining;
        set => _draining = value;
    }

    public void NoRoute() => Interlocked.Increment(ref _noRoute);

    public void Dispose()
    {
        foreach (var cluster in Clusters)
        {
            cluster.Dispose();
        }

        foreach (var cluster in _retired.Keys)
        {
            cluster.Dispose();
        }

        Probers.Dispose();
        Blocks.Dispose();
        Meters.Dispose();
    }
}

/// <summary>An endpoint source supplied in code (for example by Kubernetes discovery) for a configured cluster.</summary>
internal sealed record ClusterSourceRegistration(Func<IServiceProvider, EndpointSource> Source, TimeSpan? StalenessBound);

/// <summary>Resolves the source of any cluster that names a Kubernetes Service (IProxyBuilder.UseServiceEndpointSources).</summary>
internal sealed record ServiceSourceResolver(Func<IServiceProvider, KubernetesServiceOptions, EndpointSource> Resolve, TimeSpan? StalenessBound);

/// <summary>Sources registered through IProxyBuilder: by cluster name, and for Kubernetes Services in general.</summary>
internal sealed class ClusterSourceRegistry
{
    public ConcurrentDictionary<string, ClusterSourceRegistration> Sources { get; } = new(StringComparer.Ordinal);

    public ServiceSourceResolver? ServiceSources { get; set; }

    /// <summary>Route sources, created with the runtime (IProxyBuilder.AddRouteSource).</summary>
    public List<Func<IServiceProvider, ProxyRouteSource>> RouteSources { get; } = [];
}
