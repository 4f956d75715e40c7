using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Hosting;

public sealed class GracefulShutdownTests
{
    [Fact]
    public async Task GracefulShutdown_FlipsReadiness_AndLetsInFlightRequestsFinish()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var slow = await TestBackend.StartAsync("slow", "127.0.0.2", async context =>
        {
            arrived.TrySetResult();
            await release.Task;
            await context.Response.WriteAsync("finished");
        });
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, slow.Address);
        await using var proxy = await TestProxy.StartAsync(options);
        var ct = TestContext.Current.CancellationToken;

        var inFlight = proxy.Client.GetStringAsync("/", ct);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(20), ct);
        var stopping = proxy.StopAsync();

        // Readiness flips as soon as shutdown starts; the admin listener may already be closing, which is
        // just as clear to a load balancer.
        Assert.True(proxy.Runtime.Draining);
        release.SetResult();
        Assert.Equal("finished", await inFlight);
        await stopping;
    }
}
