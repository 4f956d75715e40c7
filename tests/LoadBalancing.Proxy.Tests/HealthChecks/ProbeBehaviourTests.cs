using LoadBalancing.Proxy.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Proxy.Tests.HealthChecks;

public sealed class ProbeBehaviourTests
{
    [Fact]
    public async Task HangingEndpoint_TimesOutOnTheClustersClock_AndIsNamedSo()
    {
        await using var hanging = await HangingBackend.StartAsync("127.0.0.16");
        var time = new FakeTimeProvider();
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, hanging.Address);
        options.Clusters["web"].HealthCheck = HealthRig.Http(unhealthy: 1);
        await using var proxy = await TestProxy.StartAsync(options, time);
        using var probes = new ProbeWaiter(proxy.Runtime.Probers);
        await hanging.Arrived;

        time.Advance(TimeSpan.FromSeconds(2));
        await probes.UntilAsync(1);
        await hanging.Abandoned;

        var health = (await HealthRig.HealthAsync(proxy, "web", hanging.Address))!.Value;
        Assert.Equal("unhealthy", health.GetProperty("state").GetString());
        Assert.Equal("timeout after 2s", health.GetProperty("lastResult").GetString());
    }

    [Fact]
    public async Task PortOverride_ProbesTheHealthPort_NotTheTrafficPort()
    {
        await using var traffic = await FlippableBackend.StartAsync("app", "127.0.0.17");
        await using var admin = await FlippableBackend.StartAsync("admin", "127.0.0.17");
        var time = new FakeTimeProvider();
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, traffic.Address);
        var check = HealthRig.Http(unhealthy: 1);
        check.Port = new Uri("http://" + admin.Address).Port;
        options.Clusters["web"].HealthCheck = check;
        options.Clusters["web"].PanicThresholdPercent = 0;
        await using var proxy = await TestProxy.StartAsync(options, time);
        using var probes = new ProbeWaiter(proxy.Runtime.Probers);
        await probes.UntilAsync(1);

        admin.HealthStatus = 503;
        time.Advance(TimeSpan.FromSeconds(10));
        await probes.UntilAsync(2);

        Assert.Equal(2, admin.Probes);
        Assert.Equal(0, traffic.Probes);
        Assert.Equal(admin.Address, admin.ProbeRequests.First().Headers["Host"]);
        Assert.Equal(1, proxy.Cluster().Balancer.Status.UnhealthyEndpoints);
        using var response = await proxy.Client.GetAsync("/", TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }
}
