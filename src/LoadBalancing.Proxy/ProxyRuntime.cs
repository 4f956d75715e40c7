using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using LoadBalancing.Proxy.Clusters;
using LoadBalancing.Proxy.Forwarding;
using LoadBalancing.Proxy.Routing;
using LoadBalancing.Proxy.Upstream;

namespace LoadBalancing.Proxy;

/// <summary>Everything the proxy runs with: clusters, routes, the forwarder and proxy-wide counters.</summary>
internal sealed class ProxyRuntime : IDisposable
{
    private long _noRoute;
    private volatile bool _draining;

    public ProxyRuntime(ProxyOptions options, IReadOnlyDictionary<string, ClusterSourceRegistration> sources, IServiceProvider services, TimeProvider time, IMeterFactory meterFactory)
    {
        Options = options;
        Time = time;
        Started = time.GetUtcNow();
        Metrics = new Metrics.ProxyMetrics(meterFactory);
        var clusters = new Dictionary<string, ProxyCluster>(StringComparer.Ordinal);
        foreach (var (name, clusterOptions) in options.Clusters)
        {
            EndpointSource source;
            TimeSpan? stalenessBound = null;
            if (sources.TryGetValue(name, out var registration))
            {
                source = registration.Source(services);
                stalenessBound = registration.StalenessBound;
            }
            else if (clusterOptions.Kubernetes is not null)
            {
                throw new ProxyConfigurationException(
                    [$"{ProxyConfiguration.SectionName}:Clusters:{name}:Kubernetes: no Kubernetes discovery is attached to this cluster (IProxyBuilder.UseEndpointSource); ProxyHost attaches it when the Kubernetes section is configured."]);
            }
            else
            {
                source = new EndpointSource(name, time);
                source.Publish(clusterOptions.Endpoints.Select(e => e.ToEndpoint()));
            }

            clusters[name] = new ProxyCluster(name, clusterOptions, source, Blocks, time, Metrics) { StalenessBound = stalenessBound };
        }

        Clusters = clusters.Values.ToArray();
        Routes = new RouteTable<ProxyCluster>(options.Routes.Select(r => (r.Host, r.Path, clusters[r.Cluster])));
        Forwarder = new HttpForwarder(time);
        Metrics.Observe(this);
        Meters = new Admin.MeterExporter(Metrics);
    }

    public ProxyOptions Options { get; }

    /// <summary>The upstream connections' receive and send buffers, shared by every cluster.</summary>
    public PinnedBlockPool Blocks { get; } = new();

    public TimeProvider Time { get; }

    public DateTimeOffset Started { get; }

    public IReadOnlyList<ProxyCluster> Clusters { get; }

    public RouteTable<ProxyCluster> Routes { get; }

    public HttpForwarder Forwarder { get; }

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

        Blocks.Dispose();
        Meters.Dispose();
    }
}

/// <summary>An endpoint source supplied in code (for example by Kubernetes discovery) for a configured cluster.</summary>
internal sealed record ClusterSourceRegistration(Func<IServiceProvider, EndpointSource> Source, TimeSpan? StalenessBound);

/// <summary>Sources registered through IProxyBuilder.UseEndpointSource, by cluster name.</summary>
internal sealed class ClusterSourceRegistry
{
    public ConcurrentDictionary<string, ClusterSourceRegistration> Sources { get; } = new(StringComparer.Ordinal);
}
