using System.Diagnostics;
using System.Globalization;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Clusters;
using LoadBalancing.Proxy.Routing;

namespace LoadBalancing.Benchmarks;

/// <summary>
/// <c>-- reload-breakdown</c>: the median time of each step a reload of the 1,000-route, 100-cluster configuration takes,
/// each run on its own, to see where a reload's time goes.
/// </summary>
public static class ReloadBreakdown
{
    public static void Run(TextWriter output, int repetitions, LoadBalancingAlgorithm algorithm = LoadBalancingAlgorithm.RoundRobin)
    {
        var options = ReloadFixtures.Options(algorithm);
        var changed = ReloadFixtures.Options(algorithm, routeVariant: 1, clusterVariant: 1);
        using var runtime = ReloadFixtures.Runtime(options);
        var clusters = runtime.Config.ClustersByName;
        var next = 0;

        output.WriteLine($"{repetitions} repetitions, median and minimum; {algorithm} clusters");
        output.WriteLine("| step | per reload | median | min |");
        output.WriteLine("| --- | --- | --- | --- |");
        Step(output, "validation (ProxyOptionsValidation.GetErrors)", "once", repetitions, () => ProxyOptionsValidation.GetErrors(options, ProxyConfiguration.SectionName));
        Step(output, "whole-configuration JSON (ProxyOptionsJson.WriteProxy)", "once", repetitions, () => ProxyOptionsJson.Text(json => ProxyOptionsJson.WriteProxy(json, options, redact: false)));
        Step(output, "100 cluster definitions and endpoint lists (Definition, Endpoints)", "Definition twice, Endpoints twice per kept cluster", repetitions, () =>
        {
            foreach (var cluster in options.Clusters.Values)
            {
                _ = ProxyOptionsJson.Definition(cluster);
                _ = ProxyOptionsJson.Endpoints(cluster);
            }
        });
        var patterns = options.Routes.Where(r => r.PathType == PathMatchType.RegularExpression).Select(r => r.Path).ToArray();
        Step(output, string.Create(CultureInfo.InvariantCulture, $"{patterns.Length} path expressions constructed (RouteConditions.Anchored)"), "twice (validation, route)", repetitions, () =>
        {
            foreach (var pattern in patterns)
            {
                _ = RouteConditions.Anchored(pattern);
            }
        });
        Step(output, "1,000 routes and their table (ProxyRoute, RouteTable)", "once", repetitions, () =>
            GC.KeepAlive(new RouteTable([.. options.Routes.Select((r, i) => new ProxyRoute(r, i, clusters))])));
        Step(output, "100 clusters built (ProxyCluster) and disposed", "when changed", repetitions, () =>
        {
            foreach (var (name, cluster) in changed.Clusters)
            {
                var source = new EndpointSource(name, runtime.Time);
                source.Publish(cluster.Endpoints.Select(e => e.ToEndpoint()));
                new ProxyCluster(name, cluster, source, runtime.Blocks, runtime.Time, runtime.Metrics).Dispose();
            }
        });
        var routeChanged = ReloadFixtures.Options(algorithm, routeVariant: 1);
        Step(output, "whole reload, one route changed (ProxyRuntime.Reload)", "", repetitions, () =>
            runtime.Reload(++next % 2 == 1 ? routeChanged : options, [], "bench"));
        var clustersChanged = ReloadFixtures.Options(algorithm, clusterVariant: 1);
        Step(output, "whole reload, every cluster changed (ProxyRuntime.Reload)", "", repetitions, () =>
            runtime.Reload(++next % 2 == 1 ? clustersChanged : options, [], "bench"));
    }

    private static void Step(TextWriter output, string name, string count, int repetitions, Action step)
    {
        step();
        var times = new double[repetitions];
        for (var i = 0; i < repetitions; i++)
        {
            var t = Stopwatch.GetTimestamp();
            step();
            times[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
        }

        Array.Sort(times);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {count} | {times[repetitions / 2]:F2} ms | {times[0]:F2} ms |"));
    }
}
