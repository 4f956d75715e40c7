using System.Net;
using System.Text.RegularExpressions;
using LoadBalancing.Proxy.Tests.Support;
using LoadBalancing.Proxy.Transport.EventLoop;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Tests.Transport;

/// <summary>
/// An application that embeds the proxy on the event loop and blocks in its own middleware, with the default options
/// and real time: the stall is logged while it lasts and when it ends, and counted on /metrics.
/// </summary>
public sealed class EventLoopStallTests
{
    private const string Category = "LoadBalancing.Proxy.Transport.EventLoop";

    [Fact(Timeout = 30_000)]
    public async Task BlockingMiddlewareOnALoop_IsLoggedWhileItBlocks_AndWhenItEnds_AndCountedOnMetrics()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The event-loop transport runs on Linux only.");
        var ct = TestContext.Current.CancellationToken;
        await using var backend = await TestBackend.StartAsync("one");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        options.Transport = ProxyTransport.EventLoop;
        var logs = new CapturedLogs();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Services.AddLoadBalancingProxy(options);
        builder.WebHost.UseLoadBalancingProxyListeners(options);
        await using var app = builder.Build();
        using var release = new ManualResetEventSlim();
        var blockedLoop = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Use(async (context, next) =>
        {
            if (context.Request.Path == "/block")
            {
                // What an application must never do on a loop thread: wait synchronously.
                blockedLoop.TrySetResult(EpollLoop.Current?.Index ?? -1);
                release.Wait(TimeSpan.FromSeconds(20));
                return;
            }

            await next(context);
        });
        app.UseLoadBalancingProxy();
        await app.StartAsync(ct);
        var listeners = app.Services.GetRequiredService<ProxyListeners>();
        using var client = new HttpClient { BaseAddress = new Uri($"http://{listeners.ProxyEndPoint}/"), Timeout = TimeSpan.FromSeconds(25) };
        using var admin = new HttpClient { BaseAddress = new Uri($"http://{listeners.AdminEndPoint}/"), Timeout = TimeSpan.FromSeconds(25) };
        var stallsBefore = Stalls(await admin.GetStringAsync("metrics", ct));

        Task<HttpResponseMessage> blocked;
        int loop;
        try
        {
            blocked = client.GetAsync("block", ct);
            loop = await blockedLoop.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
            Assert.True(loop >= 0, "the middleware did not run on a loop thread");

            // Told while it blocks: within the threshold and one check of the watchdog.
            await UntilLoggedAsync(logs, 1, loop, ct);
        }
        finally
        {
            release.Set();
        }

        using (var response = await blocked)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var ended = await UntilLoggedAsync(logs, 4, loop, ct);
        Assert.True(Milliseconds(ended) >= 200, ended);

        var metrics = await admin.GetStringAsync("metrics", ct);
        Assert.True(Stalls(metrics).GetValueOrDefault(loop) >= stallsBefore.GetValueOrDefault(loop) + 1, metrics);
        Assert.Matches($"lb_proxy_event_loop_busy_seconds_total{{loop=\"{loop}\"}} [0-9.eE+-]+", metrics);
        Assert.Matches($"lb_proxy_event_loop_stall_seconds_total{{loop=\"{loop}\"}} [0-9.eE+-]+", metrics);

        // The loop serves again, and the loops are live.
        Assert.Equal("one", await client.GetStringAsync("any", ct));
        var health = await admin.GetStringAsync("healthz", ct);
        Assert.Contains("event-loops: Healthy", health, StringComparison.Ordinal);
        await app.StopAsync(ct);
    }

    [Fact(Timeout = 30_000)]
    public async Task AnApplicationWithHealthChecks_GetsTheLoopsLivenessAmongThem_AndHealthzRunsThem()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The event-loop transport runs on Linux only.");
        var ct = TestContext.Current.CancellationToken;
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, "127.0.0.2:8080");
        options.Transport = ProxyTransport.EventLoop;
        await using var proxy = await TestProxy.StartAsync(options, configure: p =>
            p.Services.AddHealthChecks().AddCheck("app", () => HealthCheckResult.Healthy("the application's own"), tags: ["live"]));

        var report = await proxy.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(ct);
        Assert.Equal(["app", "event-loops"], report.Entries.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(HealthStatus.Healthy, report.Entries["event-loops"].Status);
        Assert.Equal("ok\napp: Healthy — the application's own\nevent-loops: Healthy — every event loop returns to epoll_wait\n", await proxy.Admin.GetStringAsync("healthz", ct));
    }

    private static Dictionary<int, long> Stalls(string metrics) =>
        Regex.Matches(metrics, "^lb_proxy_event_loop_stalls_total\\{loop=\"(\\d+)\"\\} (\\d+)$", RegexOptions.Multiline)
            .ToDictionary(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), m => long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));

    private static double Milliseconds(string message) =>
        double.Parse(Regex.Match(message, "(\\d+) ms").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Waits (bounded) for event <paramref name="eventId"/> about <paramref name="loop"/>.</summary>
    private static Task<string> UntilLoggedAsync(CapturedLogs logs, int eventId, int loop, CancellationToken ct) =>
        logs.FirstAsync((category, id, message) => category == Category && id == eventId && message.StartsWith($"Event loop {loop} ", StringComparison.Ordinal))
            .WaitAsync(TimeSpan.FromSeconds(10), ct);
}
