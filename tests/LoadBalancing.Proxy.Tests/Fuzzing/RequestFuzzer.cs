using System.Diagnostics;
using System.Net;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>
/// The request-side runner: generated requests from a raw client, through the real proxy, to the
/// <see cref="StrictOrigin"/>; every case is checked by <see cref="RequestInvariants"/>, and the first case of
/// each distinct finding is shrunk (requests, then header lines, dropped while the finding stays).
/// </summary>
internal sealed class RequestFuzzer(IPEndPoint proxy, StrictOrigin origin)
{
    private static readonly TimeSpan Idle = TimeSpan.FromMilliseconds(300);
    private const int MaxShrinkRuns = 60;

    public static async Task<FuzzReport> RunAsync(int seed, int maxCases, TimeSpan budget, string originIp, Action<string>? log, CancellationToken cancellationToken)
    {
        await using var origin = new StrictOrigin(originIp);
        await using var host = await FuzzProxy.StartAsync(origin.Address);
        var fuzzer = new RequestFuzzer(host.EndPoint, origin);
        var report = new FuzzReport("request", seed);
        var dice = new Dice(seed);
        var clock = Stopwatch.StartNew();
        for (var caseId = 0; caseId < maxCases && clock.Elapsed < budget && !cancellationToken.IsCancellationRequested; caseId++)
        {
            var specs = RequestGenerator.Case(dice, caseId);
            var (violations, stalled) = await fuzzer.RunCaseAsync(caseId, [.. specs.Select(s => s.Render())], dice.Next(3), cancellationToken);
            report.Cases++;
            report.Stalls += stalled ? 1 : 0;
            foreach (var violation in violations)
            {
                if (report.IsNew(violation))
                {
                    var (shrunkId, wire) = await fuzzer.ShrinkAsync(caseId, specs, violation, cancellationToken);
                    report.Add(new Finding(violation, shrunkId, wire, 1));
                    log?.Invoke($"new finding {violation}\n  {string.Join("\n  ", wire.Select(w => Wire.Literal(w)))}");
                }
                else
                {
                    report.Add(new Finding(violation, caseId, [], 1));
                }
            }
        }

        report.Elapsed = clock.Elapsed;
        return report;
    }

    /// <summary>Replays exact bytes (one element per request) and returns what broke; used by the regression theory.</summary>
    public static async Task<List<Violation>> ReplayAsync(IReadOnlyList<string> requests, string originIp, CancellationToken cancellationToken)
    {
        await using var origin = new StrictOrigin(originIp);
        await using var host = await FuzzProxy.StartAsync(origin.Address);
        var caseId = CaseIdOf(requests[0]);
        var (violations, _) = await new RequestFuzzer(host.EndPoint, origin).RunCaseAsync(caseId, [.. requests.Select(Wire.Bytes)], 0, cancellationToken);
        return violations;
    }

    private static int CaseIdOf(string request) =>
        int.Parse(request.Split(' ')[1].Split('/')[2], System.Globalization.CultureInfo.InvariantCulture);

    public async Task<(List<Violation> Violations, bool Stalled)> RunCaseAsync(int caseId, IReadOnlyList<byte[]> requests, int splitMode, CancellationToken cancellationToken)
    {
        var facts = requests.Select(r => RequestFacts.Analyze(r)).ToArray();
        origin.Take(); // Anything left from an earlier case is not this case's.
        var wire = Wire.Concat(requests);

        // Sending in pieces moves where Kestrel's reads end, which is where parsers keep state.
        byte[][] sends = splitMode switch
        {
            1 => [.. requests],
            2 when wire.Length > 2 => [wire[..(wire.Length / 2)], wire[(wire.Length / 2)..]],
            _ => [wire],
        };
        var expected = RequestInvariants.Expected(facts);
        var client = await RawClient.ExchangeAsync(proxy, sends, expected, RequestInvariants.NeedsClose(facts), Idle, cancellationToken);

        // Bytes the proxy wrote upstream just before answering may still be in flight; give them a moment to land.
        if (client.Responses.Any(r => RequestInvariants.FromProxy(r)) || client.Closed)
        {
            await Task.WhenAny(origin.Activity, Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken));
        }

        var (upstream, errors) = origin.Take();
        var violations = RequestInvariants.Check(caseId, facts, client, upstream, errors);
        return (violations, client.TimedOut && client.Responses.Count < expected);
    }

    /// <summary>Drops whole requests, then single header lines, as long as the same kind of violation remains.</summary>
    public async Task<(int CaseId, IReadOnlyList<byte[]> Wire)> ShrinkAsync(int caseId, List<RequestSpec> specs, Violation target, CancellationToken cancellationToken)
    {
        var current = specs;
        var attempts = 0;
        bool progress;
        do
        {
            progress = false;
            for (var r = 0; r < current.Count && current.Count > 1 && attempts < MaxShrinkRuns; r++)
            {
                var candidate = current.Where((_, i) => i != r).ToList();
                attempts++;
                if (await StillFailsAsync(caseId, candidate, target, cancellationToken))
                {
                    (current, progress) = (candidate, true);
                    r--;
                }
            }

            for (var r = 0; r < current.Count; r++)
            {
                for (var line = 0; line < current[r].HeaderLines.Count && attempts < MaxShrinkRuns; line++)
                {
                    var candidate = current.ToList();
                    candidate[r] = current[r].Without(line);
                    attempts++;
                    if (await StillFailsAsync(caseId, candidate, target, cancellationToken))
                    {
                        (current, progress) = (candidate, true);
                        line--;
                    }
                }
            }
        }
        while (progress && attempts < MaxShrinkRuns);

        // Shrinking may drop the request whose index the target names; renumber so the bytes replay as they read.
        var renumbered = Renumber(caseId, current);
        return (caseId, renumbered);
    }

    private async Task<bool> StillFailsAsync(int caseId, List<RequestSpec> candidate, Violation target, CancellationToken cancellationToken)
    {
        var (violations, _) = await RunCaseAsync(caseId, Renumber(caseId, candidate), 0, cancellationToken);
        return violations.Any(v => v.Signature == target.Signature);
    }

    private static byte[][] Renumber(int caseId, List<RequestSpec> specs) =>
        [.. specs.Select((s, i) =>
        {
            var line = s.RequestLine;
            var start = line.IndexOf(" /f/", StringComparison.Ordinal) + 1;
            var end = line.IndexOf(' ', start);
            return new RequestSpec { RequestLine = line[..start] + RequestGenerator.Target(caseId, i) + line[end..], HeaderLines = s.HeaderLines, HeadEnd = s.HeadEnd, Body = s.Body }.Render();
        })];
}
