using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>
/// The response-side runner: each case scripts one upstream response, a raw client GETs it through the real
/// proxy, and, if its connection is still usable, sends a probe request on it. Strictness notes (invariant s)
/// are reported but do not count as failures.
/// </summary>
internal sealed class ResponseFuzzer(IPEndPoint proxy, ScriptedUpstream upstream)
{
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(2);

    public static async Task<FuzzReport> RunAsync(int seed, int maxCases, TimeSpan budget, string upstreamIp, Action<string>? log, CancellationToken cancellationToken)
    {
        await using var upstream = new ScriptedUpstream(upstreamIp);
        await using var host = await FuzzProxy.StartAsync(upstream.Address);
        var fuzzer = new ResponseFuzzer(host.EndPoint, upstream);
        var report = new FuzzReport("response", seed);
        var dice = new Dice(seed);
        var clock = Stopwatch.StartNew();
        for (var caseId = 0; caseId < maxCases && clock.Elapsed < budget && !cancellationToken.IsCancellationRequested; caseId++)
        {
            var plan = ResponseGenerator.Plan(dice);
            var violations = await fuzzer.RunCaseAsync(caseId, plan, cancellationToken);
            report.Cases++;
            foreach (var violation in violations)
            {
                if (report.IsNew(violation))
                {
                    log?.Invoke($"new finding {violation}\n  {Wire.Literal(plan.Wire)} (close after: {plan.CloseAfter})");
                }

                report.Add(new Finding(violation, caseId, [plan.Wire], 1));
            }
        }

        report.Elapsed = clock.Elapsed;
        return report;
    }

    /// <summary>Replays one upstream response exactly; used by the regression theory.</summary>
    public static async Task<List<Violation>> ReplayAsync(string response, bool closeAfter, string upstreamIp, CancellationToken cancellationToken)
    {
        await using var upstream = new ScriptedUpstream(upstreamIp);
        await using var host = await FuzzProxy.StartAsync(upstream.Address);
        return await new ResponseFuzzer(host.EndPoint, upstream).RunCaseAsync(1, new ResponsePlan(Wire.Bytes(response), closeAfter), cancellationToken);
    }

    public async Task<List<Violation>> RunCaseAsync(int caseId, ResponsePlan plan, CancellationToken cancellationToken)
    {
        upstream.Script(caseId, plan);
        var reference = ResponseJudgement.Judge(plan.Wire, plan.CloseAfter);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(proxy, cancellationToken);
        await socket.SendAsync(Wire.Bytes($"GET /r/{caseId}/0 HTTP/1.1\r\nHost: fuzz.test\r\n\r\n"), SocketFlags.None, cancellationToken);
        var first = await RawClient.ReadAsync(socket, 1, _ => false, Idle, cancellationToken);

        ClientResult? probe = null;
        if (first.Responses.Count == 1 && !first.Closed && first.Unparsed is null && first.Responses[0].Status != 101)
        {
            await socket.SendAsync(Wire.Bytes($"GET /r/{caseId}/1 HTTP/1.1\r\nHost: fuzz.test\r\n\r\n"), SocketFlags.None, cancellationToken);
            probe = await RawClient.ReadAsync(socket, 1, _ => false, Idle, cancellationToken);
        }

        return ResponseInvariants.Check(reference, first, probe, caseId);
    }
}
