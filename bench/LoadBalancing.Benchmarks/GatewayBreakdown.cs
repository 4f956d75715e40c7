using System.Diagnostics;
using System.Globalization;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Kubernetes.Gateway;

namespace LoadBalancing.Benchmarks;

/// <summary>
/// <c>-- gateway-breakdown [repetitions]</c>: each step of the Gateway controller's rebuild for 1,000 HTTPRoutes timed on
/// its own (translation, the runtime's apply of a set whose clusters are all
/// new and of one with one route changed), the bytes a translation allocates, and the memory the runtime keeps for
/// the set in service (routes, 1,000 clusters, 5,000 endpoints) measured with full collections before and after.
/// </summary>
internal static class GatewayBreakdown
{
    public static void Run(TextWriter output, int repetitions)
    {
        var inputs = new[] { GatewayFixtures.Inputs(variant: 0), GatewayFixtures.Inputs(variant: 1) };
        var source = new BenchRouteSource();
        using var runtime = GatewayFixtures.Runtime(source);

        // Warm up every path once.
        source.Set(GatewayTranslator.Translate(inputs[0], GatewayFixtures.Settings).Set);
        source.Set(ProxyRouteSet.Empty);

        // Retained: the runtime with nothing published, then with the 1,000 HTTPRoutes' set in service.
        var set = GatewayTranslator.Translate(inputs[0], GatewayFixtures.Settings).Set;
        var before = GC.GetTotalMemory(forceFullCollection: true);
        source.Set(set);
        var after = GC.GetTotalMemory(forceFullCollection: true);
        var retained = after - before;

        var translate = new List<double>();
        var build = new List<double>();
        var change = new List<double>();
        var allocated = new List<long>();
        for (var i = 0; i < repetitions; i++)
        {
            source.Set(ProxyRouteSet.Empty);
            GC.Collect();
            var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            var started = Stopwatch.GetTimestamp();
            var translation = GatewayTranslator.Translate(inputs[0], GatewayFixtures.Settings);
            translate.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            allocated.Add(GC.GetAllocatedBytesForCurrentThread() - allocatedBefore);

            started = Stopwatch.GetTimestamp();
            source.Set(translation.Set);
            build.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            Check(runtime);

            var changed = GatewayTranslator.Translate(inputs[1], GatewayFixtures.Settings).Set;
            var generation = runtime.Config.Generation;
            started = Stopwatch.GetTimestamp();
            source.Set(changed);
            change.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            if (runtime.Config.Generation != generation + 1)
            {
                throw new InvalidOperationException("the changed set was not applied");
            }
        }

        // Parts of the runtime's apply that can be called on their own, on the set in service.
        var merge = new List<double>();
        var optionsText = new List<double>();
        var table = new List<double>();
        for (var i = 0; i < repetitions; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var errors = new List<string>();
            var merged = RouteSourceMerge.MergeAndValidate(new ProxyOptions { Listeners = { new ListenerOptions { Url = "http://127.0.0.1:80" } } }, runtime.RouteSources, static _ => false, errors);
            merge.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);

            started = Stopwatch.GetTimestamp();
            _ = ProxyOptionsJson.Text(json => ProxyOptionsJson.WriteProxy(json, merged, redact: false));
            optionsText.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);

            started = Stopwatch.GetTimestamp();
            _ = new Proxy.Routing.RouteTable([.. merged.Routes.Select((r, index) => new Proxy.Routing.ProxyRoute(r, index, runtime.Config.ClustersByName))]);
            table.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        // What building the clusters costs: 1,000 ProxyCluster constructions (balancer over 5 endpoints, metrics, timer) over the same sources.
        var clusters = new List<double>();
        for (var i = 0; i < repetitions; i++)
        {
            var built = new List<Proxy.Clusters.ProxyCluster>(runtime.Clusters.Count);
            var started = Stopwatch.GetTimestamp();
            foreach (var cluster in runtime.Clusters)
            {
                built.Add(new Proxy.Clusters.ProxyCluster(cluster.Name, cluster.Options, cluster.Source, runtime.Blocks, TimeProvider.System, runtime.Metrics));
            }

            clusters.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            built.ForEach(c => c.Dispose());
        }

        // Of which the balancers alone: 1,000 Balancer constructions over the same sources.
        var balancers = new List<double>();
        for (var i = 0; i < repetitions; i++)
        {
            var built = new List<Balancer>(runtime.Clusters.Count);
            var started = Stopwatch.GetTimestamp();
            foreach (var cluster in runtime.Clusters)
            {
                built.Add(new Balancer(cluster.Source, cluster.Options.ToBalancerOptions(null), TimeProvider.System));
            }

            balancers.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            built.ForEach(b => b.Dispose());
        }

        var routes = GatewayFixtures.Routes;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{routes} HTTPRoutes -> {runtime.Routes.Routes.Count} routes, {runtime.Clusters.Count} clusters, {routes * GatewayFixtures.EndpointsPerService} endpoints; {repetitions} repetitions, medians (max)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"translate                          {Median(translate),8:F1} ms ({translate.Max(),6:F1})   allocated {allocated.Average() / routes:F0} B per HTTPRoute ({allocated.Average() / 1e6:F1} MB)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"runtime apply, all clusters new    {Median(build),8:F1} ms ({build.Max(),6:F1})"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"runtime apply, one route changed   {Median(change),8:F1} ms ({change.Max(),6:F1})"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  of which merge + validate         {Median(merge),8:F1} ms ({merge.Max(),6:F1})"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  of which options JSON (once)     {Median(optionsText),8:F1} ms ({optionsText.Max(),6:F1})   (a commit writes it once, for the fingerprint that tells an unchanged reload)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  of which route table             {Median(table),8:F1} ms ({table.Max(),6:F1})"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  1,000 ProxyCluster constructions  {Median(clusters),8:F1} ms ({clusters.Max(),6:F1})"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    of which 1,000 Balancers        {Median(balancers),8:F1} ms ({balancers.Max(),6:F1})"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"retained for the set in service    {retained / 1e6:F1} MB = {retained / routes:F0} B per HTTPRoute (set, snapshot, clusters, endpoints)"));
    }

    private static void Check(ProxyRuntime runtime)
    {
        if (runtime.Clusters.Count != GatewayFixtures.Routes)
        {
            throw new InvalidOperationException($"not applied: {string.Join("; ", runtime.Status.Errors)}");
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }
}
