namespace LoadBalancing.Proxy;

/// <summary>
/// Routes and clusters that come from somewhere other than the configuration — Kubernetes Ingress or Gateway API
/// objects, a service registry — and join it in the same configuration snapshots: each time a source publishes, the
/// proxy builds a new snapshot from the configuration in service and every source's current set, validates it in full
/// and swaps it in, exactly as a configuration reload does (an invalid result leaves the last good snapshot in service).
/// </summary>
/// <remarks>
/// A source publishes only routes it has checked: one bad object must not keep the others out. Cluster names must not
/// collide with configured clusters or another source's (prefix them, for example <c>ingress:shop/web:http</c>); a
/// route may use any cluster, its source's or the configuration's. Configured routes come first, then each source's
/// in the order sources were added: order only breaks ties of equal precedence.
/// </remarks>
public abstract class ProxyRouteSource
{
    private volatile ProxyRouteSet _current = ProxyRouteSet.Empty;
    private Action? _changed;

    /// <summary>Creates a source.</summary>
    /// <param name="name">What the source is, in <c>/config</c>, logs and error messages (for example <c>ingress</c>).</param>
    protected ProxyRouteSource(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
    }

    /// <summary>What the source is, in <c>/config</c>, logs and error messages.</summary>
    public string Name { get; }

    /// <summary>The routes and clusters the source contributes now.</summary>
    public ProxyRouteSet Current => _current;

    /// <summary>
    /// Whether the source has published at least once. Until it has, the proxy reports itself not ready: a source
    /// publishes after it has read its source of truth, and a replica that would answer 404 for every route it has
    /// not read yet should not receive traffic.
    /// </summary>
    public bool HasPublished { get; private set; }

    /// <summary>Replaces the source's routes and clusters; the proxy builds and swaps in a new snapshot.</summary>
    /// <param name="set">The complete new set.</param>
    protected void Publish(ProxyRouteSet set)
    {
        ArgumentNullException.ThrowIfNull(set);
        _current = set;
        HasPublished = true;
        Volatile.Read(ref _changed)?.Invoke();
    }

    /// <summary>
    /// How the source reads its source of truth, one entry per feed (for a Kubernetes controller: one watch per kind
    /// and namespace), for <c>/backends</c>. Empty by default.
    /// </summary>
    public virtual IReadOnlyList<RouteSourceFeed> Feeds => [];

    /// <summary>Called after each publish (by the proxy runtime; one subscriber).</summary>
    internal void OnChanged(Action changed) => Volatile.Write(ref _changed, changed);
}

/// <summary>An immutable set of routes and the clusters they need, as one <see cref="ProxyRouteSource"/> publishes it.</summary>
public sealed class ProxyRouteSet
{
    /// <summary>Creates a set.</summary>
    /// <param name="routes">The routes, in the order that breaks ties of equal precedence.</param>
    /// <param name="clusters">The clusters the source defines, by name.</param>
    public ProxyRouteSet(IEnumerable<ProxyRouteOptions> routes, IReadOnlyDictionary<string, ClusterOptions> clusters)
    {
        ArgumentNullException.ThrowIfNull(routes);
        ArgumentNullException.ThrowIfNull(clusters);
        Routes = [.. routes];
        Clusters = new Dictionary<string, ClusterOptions>(clusters, StringComparer.Ordinal);
    }

    /// <summary>
    /// Every problem the proxy would find with <paramref name="route"/> on its own: its matches and actions, and each
    /// cluster it names as <paramref name="clusters"/> defines it; each problem starts with the route's name. What
    /// involves other routes (a duplicate match) is not checked. A source checks each route before publishing, so
    /// that one bad object is left out rather than the whole set refused.
    /// </summary>
    /// <param name="route">The route.</param>
    /// <param name="clusters">The clusters the source defines, by name (configured clusters count as missing).</param>
    /// <returns>The problems; empty when the route is valid.</returns>
    public static IReadOnlyList<string> Check(ProxyRouteOptions route, IReadOnlyDictionary<string, ClusterOptions> clusters)
    {
        ArgumentNullException.ThrowIfNull(route);
        ArgumentNullException.ThrowIfNull(clusters);
        var options = new ProxyOptions();
        var errors = new List<string>();
        foreach (var name in route.Backends.Select(b => b.Cluster).Append(route.Cluster))
        {
            if (name is not null && clusters.TryGetValue(name, out var cluster) && !options.Clusters.ContainsKey(name))
            {
                options.Clusters[name] = cluster;
                ProxyOptionsValidation.CheckCluster(name, cluster, $"{route.Name}:Clusters:{name}", errors);
            }
        }

        RouteValidation.CheckRoute(route, route.Name ?? "route", options, errors);
        return errors;
    }

    /// <summary>No routes and no clusters.</summary>
    public static ProxyRouteSet Empty { get; } = new([], new Dictionary<string, ClusterOptions>());

    /// <summary>The routes.</summary>
    public IReadOnlyList<ProxyRouteOptions> Routes { get; }

    /// <summary>The clusters, by name.</summary>
    public IReadOnlyDictionary<string, ClusterOptions> Clusters { get; }
}

/// <summary>How fresh one feed of a route source is: for a Kubernetes watch, the kind and namespace it reads.</summary>
/// <param name="Name">What it reads (<c>ingresses.networking.k8s.io in shop</c>).</param>
/// <param name="Synced">Whether it has read its source once.</param>
/// <param name="Connected">Whether it is receiving changes now (a watch is open).</param>
/// <param name="SinceLastHeard">Time since it last heard from its source (an event, a bookmark, a list); null: never.</param>
/// <param name="SinceLastFullRead">Time since it last read everything (a list); null: never.</param>
/// <param name="Objects">How many objects it holds.</param>
/// <param name="Unreadable">How many objects or events it could not read so far.</param>
/// <param name="Missed">How many times a full read found changes the stream had not delivered.</param>
/// <param name="LastError">The last error reading the source, until it next succeeds.</param>
public sealed record RouteSourceFeed(
    string Name, bool Synced, bool Connected, TimeSpan? SinceLastHeard, TimeSpan? SinceLastFullRead, int Objects, long Unreadable, long Missed, string? LastError);
