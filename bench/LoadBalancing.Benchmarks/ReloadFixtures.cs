using System.Diagnostics.Metrics;
using System.Globalization;
using LoadBalancing.Proxy;

namespace LoadBalancing.Benchmarks;

/// <summary>
/// Whole proxy configurations for the reload benchmarks: the 1,000 routes of <see cref="RouteFixtures"/> over 100 static
/// clusters of 3 endpoints each, in variants that differ in one route or in every cluster's definition.
/// </summary>
public static class ReloadFixtures
{
    public const int Routes = 1_000;
    public const int ClusterCount = 100;

    /// <summary>
    /// A configuration; <paramref name="routeVariant"/> changes one route's path (the last), <paramref name="clusterVariant"/>
    /// every cluster's panic threshold, which makes each a new cluster, and <paramref name="timeoutVariant"/> every
    /// cluster's connect timeout, which each cluster takes in place.
    /// </summary>
    public static ProxyOptions Options(LoadBalancingAlgorithm algorithm, int routeVariant = 0, int clusterVariant = 0, int timeoutVariant = 0)
    {
        var options = new ProxyOptions();
        options.Listeners.Add(new ListenerOptions { Url = "http://127.0.0.1:8080" });
        foreach (var route in RouteFixtures.Routes(Routes, ClusterCount))
        {
            options.Routes.Add(route);
        }

        if (routeVariant != 0)
        {
            options.Routes[^1].Path = string.Create(CultureInfo.InvariantCulture, $"/favicon-{routeVariant}.ico");
        }

        for (var c = 0; c < ClusterCount; c++)
        {
            // A changed panic threshold changes the balancer (the cluster is rebuilt); a changed timeout only how
            // requests are forwarded (the cluster is kept and takes the new options in place).
            var cluster = new ClusterOptions
            {
                Algorithm = algorithm,
                PanicThresholdPercent = 50 - clusterVariant,
                ConnectTimeout = TimeSpan.FromSeconds(2 + timeoutVariant),
            };
            for (var e = 0; e < 3; e++)
            {
                cluster.Endpoints.Add(new EndpointOptions { Address = string.Create(CultureInfo.InvariantCulture, $"10.1.{c}.{e + 1}:8080") });
            }

            options.Clusters[string.Create(CultureInfo.InvariantCulture, $"c{c}")] = cluster;
        }

        return options;
    }

    /// <summary>A proxy runtime (no listeners are opened: it is what the middleware and reloads work on) over <paramref name="options"/>.</summary>
    internal static ProxyRuntime Runtime(ProxyOptions options) =>
        new(options, new ClusterSourceRegistry(), new NoServices(), TimeProvider.System, new MeterFactory());

    private sealed class NoServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }

    private sealed class MeterFactory : IMeterFactory
    {
        public Meter Create(MeterOptions options) => new(options);

        public void Dispose()
        {
        }
    }
}
