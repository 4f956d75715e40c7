namespace LoadBalancing.Proxy;

/// <summary>
/// The configuration in service plus every route source's set, as one <see cref="ProxyOptions"/> the runtime validates
/// and plans like any configuration; and the way back from a merged key path to the source that owns it.
/// </summary>
internal static class RouteSourceMerge
{
    /// <summary>
    /// The configuration with every source's current set, validated in full; each problem is added to
    /// <paramref name="errors"/> with the key of whoever wrote it (the configuration or a source). A cluster for which
    /// <paramref name="fedInCode"/> is true has its endpoints from an endpoint source and needs no static ones.
    /// <paramref name="hostingCheck"/> adds what depends on how the proxy is hosted (the routes' ASP.NET Core policies).
    /// </summary>
    public static ProxyOptions MergeAndValidate(ProxyOptions configured, IReadOnlyList<ProxyRouteSource> sources, Func<string, bool> fedInCode, List<string> errors, Func<ProxyOptions, IReadOnlyList<string>>? hostingCheck = null)
    {
        var snapshot = Snapshot(sources);
        var merged = Merge(configured, snapshot, errors);
        if (errors.Count == 0)
        {
            var problems = ProxyOptionsValidation.GetErrors(merged, ProxyConfiguration.SectionName);
            ProxyOptionsValidation.CheckEndpoints(merged, ProxyConfiguration.SectionName, fedInCode, problems);
            if (problems.Count == 0 && hostingCheck is not null)
            {
                problems.AddRange(hostingCheck(merged));
            }

            errors.AddRange(problems.Select(e => Attribute(e, configured, snapshot)));
        }

        // Validation lets a configuration with no clusters and no routes through: its routes may come from sources.
        if (errors.Count == 0 && configured.Routes.Count == 0 && sources.Count == 0)
        {
            errors.Add($"{ProxyConfiguration.SectionName}:Routes: at least one route is needed (for example {{ \"Path\": \"/\", \"Cluster\": \"web\" }}), unless routes come from a route source such as the Kubernetes Ingress or Gateway API controller.");
        }

        return merged;
    }

    /// <summary>Each source's name and the set it had published when the merge began.</summary>
    private static (string Name, ProxyRouteSet Set)[] Snapshot(IReadOnlyList<ProxyRouteSource> sources) =>
        [.. sources.Select(static s => (s.Name, s.Current))];

    public static ProxyOptions Merge(ProxyOptions configured, (string Name, ProxyRouteSet Set)[] sources, List<string> errors)
    {
        if (sources.Length == 0)
        {
            return configured;
        }

        var merged = new ProxyOptions
        {
            Admin = configured.Admin,
            MaxRequestBodySize = configured.MaxRequestBodySize,
            DrainTimeout = configured.DrainTimeout,
            AccessLog = configured.AccessLog,
            Transport = configured.Transport,
            Zone = configured.Zone,
            TrustForwardedHeaders = configured.TrustForwardedHeaders,
        };
        foreach (var listener in configured.Listeners)
        {
            merged.Listeners.Add(listener);
        }

        foreach (var route in configured.Routes)
        {
            merged.Routes.Add(route);
        }

        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, cluster) in configured.Clusters)
        {
            merged.Clusters[name] = cluster;
            owners[name] = "the configuration";
        }

        foreach (var (sourceName, set) in sources)
        {
            foreach (var (name, cluster) in set.Clusters)
            {
                if (owners.TryGetValue(name, out var owner))
                {
                    errors.Add($"{sourceName}:Clusters:{name}: {owner} already defines a cluster of this name.");
                    continue;
                }

                owners[name] = $"route source {sourceName}";
                merged.Clusters[name] = cluster;
            }

            foreach (var route in set.Routes)
            {
                merged.Routes.Add(route);
            }
        }

        return merged;
    }

    /// <summary>
    /// Rewrites a merged route's key (<c>Proxy:Routes:12:…</c>) to its source's (<c>ingress:Routes:3:…</c>), so an error
    /// names what the source published, not a position in a list nobody wrote.
    /// </summary>
    public static string Attribute(string error, ProxyOptions configured, (string Name, ProxyRouteSet Set)[] sources)
    {
        const string Prefix = ProxyConfiguration.SectionName + ":Routes:";
        if (sources.Length == 0 || !error.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return error;
        }

        var end = error.IndexOfAny([':', ' '], Prefix.Length);
        if (!int.TryParse(end < 0 ? error.AsSpan(Prefix.Length) : error.AsSpan(Prefix.Length, end - Prefix.Length), out var index) || index < configured.Routes.Count)
        {
            return error;
        }

        index -= configured.Routes.Count;
        foreach (var (name, set) in sources)
        {
            var count = set.Routes.Count;
            if (index < count)
            {
                return $"{name}:Routes:{index}{(end < 0 ? "" : error[end..])}";
            }

            index -= count;
        }

        return error;
    }
}
