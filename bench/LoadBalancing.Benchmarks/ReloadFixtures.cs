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
    /// every cluster's connect timeout, which makes each a new cluster.
    /// </summary>
    public static ProxyOptions Options(LoadBalancingAlgorithm algorithm, int routeVariant = 0, int clusterVariant = 0)
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
            var cluster = new ClusterOptions { Algorithm = algorithm, ConnectTimeout = TimeSpan.FromSeconds(2 + clusterVariant) };
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
