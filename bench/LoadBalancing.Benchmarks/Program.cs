using BenchmarkDotNet.Running;
using LoadBalancing;
using LoadBalancing.Benchmarks;

// `-- quality` prints the hash-quality table (not a timing run); anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "quality")
{
    HashQuality.Print(Console.Out);
    return;
}

// `-- routes` prints what each route-match benchmark request matches (a check of the fixtures, not a timing run).
if (args.Length > 0 && args[0] == "routes")
{
    foreach (var routes in new[] { 10, 1_000 })
    {
        foreach (var kind in Enum.GetValues<RouteRequest>())
        {
            Console.WriteLine($"## {routes} routes, {kind}");
            foreach (var line in RouteFixtures.Describe(kind, routes))
            {
                Console.WriteLine(line);
            }
        }
    }

    return;
}

// `-- reload-latency [seconds]` times route look-ups on one thread while another reloads (see ReloadLatency).
if (args.Length > 0 && args[0] == "reload-latency")
{
    var seconds = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10;
    var algorithm = args.Length > 2 ? Enum.Parse<LoadBalancingAlgorithm>(args[2]) : LoadBalancingAlgorithm.RoundRobin;
    ReloadLatency.Run(Console.Out, TimeSpan.FromSeconds(seconds), algorithm);
    return;
}

// `-- reload-breakdown [repetitions]` times each step of a reload on its own (see ReloadBreakdown).
if (args.Length > 0 && args[0] == "reload-breakdown")
{
    var repetitions = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 30;
    var algorithm = args.Length > 2 ? Enum.Parse<LoadBalancingAlgorithm>(args[2]) : LoadBalancingAlgorithm.RoundRobin;
    ReloadBreakdown.Run(Console.Out, repetitions, algorithm);
    return;
}

// `-- gateway-breakdown [repetitions]` times each step of a Gateway rebuild of 1,000 HTTPRoutes (see GatewayBreakdown).
if (args.Length > 0 && args[0] == "gateway-breakdown")
{
    GatewayBreakdown.Run(Console.Out, args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10);
    return;
}

// `-- client-floor host:port [connections] [seconds] [windows]`: the proxy's upstream connections alone (see UpstreamClientFloor;
// bench/load/run.sh --floor runs it). Windows "stdin": one window per line read (seconds), paused in between.
if (args.Length > 1 && args[0] == "client-floor")
{
    var connections = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 128;
    var seconds = args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 4;
    var onDemand = args.Length > 4 && args[4] == "stdin";
    await UpstreamClientFloor.RunAsync(Console.Out, System.Net.IPEndPoint.Parse(args[1]), connections, TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(seconds),
        args.Length > 4 && !onDemand ? int.Parse(args[4], System.Globalization.CultureInfo.InvariantCulture) : 3, onDemand ? Console.In : null).ConfigureAwait(false);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
