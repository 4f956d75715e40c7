namespace LoadBalancing.Proxy.Kubernetes.Tests.Support;

internal static class RouteSets
{
    /// <summary>The set joins a configuration and passes the proxy's own validation, cross-route checks included.</summary>
    public static void Validates(ProxyRouteSet set)
    {
        var options = new ProxyOptions();
        options.Listeners.Add(new ListenerOptions { Url = "http://127.0.0.1:8080" });
        foreach (var route in set.Routes)
        {
            options.Routes.Add(route);
        }

        foreach (var (name, cluster) in set.Clusters)
        {
            options.Clusters[name] = cluster;
        }

        if (options.Routes.Count == 0)
        {
            options.Routes.Add(new ProxyRouteOptions { Path = "/", DirectResponse = new DirectResponseOptions() });
        }

        ProxyConfiguration.Validate(options);
    }
}
