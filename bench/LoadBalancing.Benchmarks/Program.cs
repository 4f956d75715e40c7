using BenchmarkDotNet.Running;
using LoadBalancing.Benchmarks;

// `-- quality` prints the hash-quality table (not a timing run); anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "quality")
{
    HashQuality.Print(Console.Out);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
