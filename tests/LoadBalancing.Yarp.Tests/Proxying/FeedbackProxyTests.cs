using System.Net;
using LoadBalancing.Yarp.Tests.Support;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Configuration;

namespace LoadBalancing.Yarp.Tests.Proxying;

/// <summary>What the policies learn from each request's outcome through <c>UseLoadBalancingFeedback()</c>.</summary>
public sealed class FeedbackProxyTests
{
    [Fact(Timeout = 90_000)]
    public async Task PeakEwma_SlowBackend_GetsFewRequests()
    {
        // b0 takes 50 ms per response, b1 and b2 answer at once.
        await using var backends = await Backends.StartAsync(3, i => i == 0 ? Slow : null);
        await using var proxy = await YarpProxy.StartAsync([YarpProxy.Cluster("c", LoadBalancingPolicyNames.PeakEwma, backends.All), WarmCluster(backends)]);
        await WarmUpAsync(proxy, backends);

        var counts = await CountAsync(proxy, 200);

        Assert.Equal(200, counts.Values.Sum());
        Assert.True(counts.GetValueOrDefault("b0") < 200 * 20 / 100, $"the slow backend got {counts.GetValueOrDefault("b0")} of 200");
        Assert.True(counts.GetValueOrDefault("b1") > 0 && counts.GetValueOrDefault("b2") > 0);
    }

    [Fact(Timeout = 90_000)]
    public async Task PeakEwma_WithoutFeedback_DoesNotSteerAwayFromTheSlowBackend()
    {
        // The counterpart of the test above: the steering comes from the feedback hook, not from chance.
        await using var backends = await Backends.StartAsync(3, i => i == 0 ? Slow : null);
        await using var proxy = await YarpProxy.StartAsync([YarpProxy.Cluster("c", LoadBalancingPolicyNames.PeakEwma, backends.All), WarmCluster(backends)], feedback: false);
        await WarmUpAsync(proxy, backends);

        var counts = await CountAsync(proxy, 150);

        // Unsteered it gets about a third (50 ± 6); 23 is 4.7 standard deviations below that.
        Assert.True(counts.GetValueOrDefault("b0") >= 150 * 15 / 100, $"the slow backend got only {counts.GetValueOrDefault("b0")} of 150");
    }

    [Fact(Timeout = 60_000)]
    public async Task RoundRobin_BackendAnswering500_IsEjectedAfterConsecutiveFailures()
    {
        await using var backends = await Backends.StartAsync(3, i => i == 1 ? Failing : null);
        await using var proxy = await YarpProxy.StartAsync([YarpProxy.Cluster("c", LoadBalancingPolicyNames.RoundRobin, backends.All)]);

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 60; i++)
        {
            statuses.Add((await proxy.GetAsync("/c/x")).Status);
        }

        // Outlier detection's default: 5 consecutive failures eject the destination (for 30 s). The outcome is reported
        // when the proxy's pipeline ends, which can be just after the client has read the response, so a request or
        // two may be picked before the fifth failure is counted.
        Assert.InRange(backends.All[1].Requests.Count, 5, 7);
        Assert.Equal(backends.All[1].Requests.Count, statuses.Count(s => s == HttpStatusCode.InternalServerError));
        Assert.All(statuses.Skip(20), s => Assert.Equal(HttpStatusCode.OK, s));
    }

    [Fact(Timeout = 60_000)]
    public async Task RoundRobin_OutlierDetectionTurnedOff_KeepsSendingToTheFailingBackend()
    {
        await using var backends = await Backends.StartAsync(2, i => i == 1 ? Failing : null);
        await using var proxy = await YarpProxy.StartAsync(
            [YarpProxy.Cluster("c", LoadBalancingPolicyNames.RoundRobin, backends.All)],
            o => o.ConfigureBalancer = (cluster, balancer) => balancer.OutlierDetection.Enabled = false);

        for (var i = 0; i < 40; i++)
        {
            await proxy.GetAsync("/c/x");
        }

        Assert.True(backends.All[1].Requests.Count >= 10, $"the failing backend got {backends.All[1].Requests.Count} of 40");
    }

    [Fact(Timeout = 60_000)]
    public async Task LeastRequest_BackendHoldingARequest_GetsNoneWhileItIsBusy()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backends = await Backends.StartAsync(2, i => i == 0
            ? async context =>
            {
                if (context.Request.Path == "/c/hold")
                {
                    held.TrySetResult();
                    await release.Task;
                }

                await context.Response.WriteAsync("b0");
            }
            : null);
        await using var proxy = await YarpProxy.StartAsync([YarpProxy.Cluster("c", LoadBalancingPolicyNames.LeastRequest, backends.All)]);

        // Find a moment when b0 holds a request: send holds until one lands on b0.
        var holds = new List<Task>();
        while (!held.Task.IsCompleted)
        {
            var hold = proxy.GetAsync("/c/hold");
            holds.Add(hold);
            await Task.WhenAny(hold, held.Task);
        }

        // Two endpoints, two choices: every pick compares both, and b0 has one in flight.
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("b1", (await proxy.GetAsync("/c/x")).Body);
        }

        release.TrySetResult();
        await Task.WhenAll(holds);
    }

    private static ClusterConfig WarmCluster(Backends backends) =>
        YarpProxy.Cluster("warm", LoadBalancingPolicyNames.RoundRobin, backends.All);

    /// <summary>
    /// Runs the whole forwarding path (YARP's, ours and the backends', all in this process) through another cluster
    /// first, so no destination of the measured cluster takes the first-request (JIT) cost as its first latency sample:
    /// peak-EWMA would hold that against it for seconds.
    /// </summary>
    private static async Task WarmUpAsync(YarpProxy proxy, Backends backends)
    {
        for (var i = 0; i < backends.All.Length * 3; i++)
        {
            await proxy.GetAsync("/warm/x");
        }
    }

    private static Task Slow(HttpContext context) => SlowAsync(context);

    private static async Task SlowAsync(HttpContext context)
    {
        await Task.Delay(50, context.RequestAborted);
        await context.Response.WriteAsync("b0");
    }

    private static Task Failing(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status500InternalServerError;
        return context.Response.WriteAsync("b1");
    }

    private static async Task<Dictionary<string, int>> CountAsync(YarpProxy proxy, int requests)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < requests; i++)
        {
            var (status, body) = await proxy.GetAsync("/c/x");
            Assert.Equal(HttpStatusCode.OK, status);
            counts[body] = counts.GetValueOrDefault(body) + 1;
        }

        return counts;
    }
}
