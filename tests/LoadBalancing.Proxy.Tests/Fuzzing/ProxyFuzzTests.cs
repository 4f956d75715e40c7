namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>
/// The bounded, fixed-seed fuzz runs of the suite (docs/proxy.md, section Fuzzing, has the invariants and the long run).
/// A failure prints the seed and each finding's shrunk bytes as C# literals for <see cref="RegressionCases"/>.
/// </summary>
public sealed class ProxyFuzzTests
{
    private const int Seed = 15_0001;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task RequestSide_GeneratedRequests_KeepEveryInvariant()
    {
        var output = TestContext.Current.TestOutputHelper;
        var report = await RequestFuzzer.RunAsync(Seed, maxCases: 4000, Budget, "127.0.0.61", line => output?.WriteLine(line), TestContext.Current.CancellationToken);

        output?.WriteLine(report.ToString());
        Assert.True(report.Findings.Count == 0, report.ToString());
    }

    [Fact]
    public async Task ResponseSide_GeneratedResponses_NeverReachTheClientAmbiguousOrTruncated()
    {
        var output = TestContext.Current.TestOutputHelper;
        var report = await ResponseFuzzer.RunAsync(Seed, maxCases: 4000, Budget, "127.0.0.62", line => output?.WriteLine(line), TestContext.Current.CancellationToken);

        output?.WriteLine(report.ToString());
        var failures = report.Findings.Where(f => f.Violation.Invariant != "s").ToArray();
        Assert.True(failures.Length == 0, report.ToString());
    }
}
