using LoadBalancing.Proxy.Clusters;
using LoadBalancing.Proxy.Routing;

namespace LoadBalancing.Proxy;

/// <summary>
/// One configuration in service: its routes and clusters, built and validated before it is published with one
/// reference write. A request reads it once and finishes on it, whatever is published meanwhile.
/// </summary>
internal sealed class ProxyConfigSnapshot
{
    // A reload passes the fingerprint it has just written to compare with the configuration in service.
    public ProxyConfigSnapshot(ProxyOptions options, IReadOnlyDictionary<string, ProxyCluster> clusters, long generation, string source, DateTimeOffset loadedAt, string? fingerprint = null, ProxyConfigSnapshot? previous = null)
    {
        Options = options;
        ClustersByName = clusters;
        Clusters = [.. clusters.Values];
        var counters = new Dictionary<string, RouteCounters>(StringComparer.Ordinal);
        var routes = new ProxyRoute[options.Routes.Count];
        for (var i = 0; i < routes.Length; i++)
        {
            var route = routes[i] = new ProxyRoute(options.Routes[i], i, clusters) { TrustForwardedHeaders = options.TrustForwardedHeaders };
            if (!counters.TryGetValue(route.Name, out var shared))
            {
                // A route that keeps its name keeps its counts: a reload is not a counter reset.
                counters[route.Name] = shared = previous?.RouteCounters.GetValueOrDefault(route.Name) ?? route.Counters;
            }

            route.Counters = shared;
        }

        RouteCounters = counters;
        Routes = new RouteTable(routes);
        Generation = generation;
        Source = source;
        LoadedAt = loadedAt;
        Definitions = options.Clusters.ToDictionary(c => c.Key, c => ProxyOptionsJson.Definition(c.Value), StringComparer.Ordinal);
        Fingerprint = fingerprint ?? ProxyOptionsJson.Text(json => ProxyOptionsJson.WriteProxy(json, options, redact: false));
    }

    public ProxyOptions Options { get; }

    public IReadOnlyList<ProxyCluster> Clusters { get; }

    public IReadOnlyDictionary<string, ProxyCluster> ClustersByName { get; }

    public RouteTable Routes { get; }

    /// <summary>Each route name's counters, in configuration order, for lb.proxy.route.requests.</summary>
    public IReadOnlyDictionary<string, RouteCounters> RouteCounters { get; }

    /// <summary>1 for the configuration the proxy started with, one more for every reload that changed something.</summary>
    public long Generation { get; }

    /// <summary>What loaded it: <c>startup</c>, <c>file</c>, <c>SIGHUP</c>, <c>POST /config/reload</c> or <c>code</c>.</summary>
    public string Source { get; }

    public DateTimeOffset LoadedAt { get; }

    /// <summary>Each cluster's definition apart from its static endpoints, to tell what a reload changes.</summary>
    public IReadOnlyDictionary<string, string> Definitions { get; }

    /// <summary>The whole configuration, secrets included: equal text, nothing to reload. Never shown.</summary>
    public string Fingerprint { get; }
}
