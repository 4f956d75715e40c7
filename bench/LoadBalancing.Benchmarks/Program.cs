using BenchmarkDotNet.Running;
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

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
