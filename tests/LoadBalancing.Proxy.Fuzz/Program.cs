using System.Globalization;
using LoadBalancing.Proxy.Tests.Fuzzing;

// The long run of the proxy fuzzers (docs/proxy.md, section Fuzzing):
//   dotnet run -c Release --project tests/LoadBalancing.Proxy.Fuzz -- --minutes 10 --seed 42 [--side request|response|both]
// Exit code 0: no findings beyond strictness notes; 1: findings (printed with their bytes); 2: bad arguments.
var minutes = 5.0;
var seed = Environment.TickCount;
var side = "both";
for (var i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--minutes":
            minutes = double.Parse(args[i + 1], CultureInfo.InvariantCulture);
            break;
        case "--seed":
            seed = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            break;
        case "--side":
            side = args[i + 1];
            break;
        default:
            Console.Error.WriteLine($"unknown option {args[i]}; use --minutes N --seed S [--side request|response|both]");
            return 2;
    }
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // Ctrl+C ends the run early but still prints what was found.
    e.Cancel = true;
    stop.Cancel();
};

var sides = side == "both" ? new[] { "request", "response" } : [side];
var budget = TimeSpan.FromMinutes(minutes / sides.Length);
var failed = false;
foreach (var which in sides)
{
    Console.WriteLine($"{which} side: seed {seed}, {budget.TotalMinutes:F1} minutes");
    var report = which == "request"
        ? await RequestFuzzer.RunAsync(seed, int.MaxValue, budget, "127.0.0.71", Console.WriteLine, stop.Token)
        : await ResponseFuzzer.RunAsync(seed, int.MaxValue, budget, "127.0.0.72", Console.WriteLine, stop.Token);
    Console.WriteLine(report);
    failed |= report.Findings.Any(f => f.Violation.Invariant != "s");
}

return failed ? 1 : 0;
