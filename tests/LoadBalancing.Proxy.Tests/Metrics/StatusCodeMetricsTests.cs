using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.RegularExpressions;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancing.Proxy.Tests.Metrics;

/// <summary>
/// The <c>code</c> label counts 5xx by exact code (500, 502, 503, 504, the rest as <c>5xx</c>) per cluster, per route
/// and per endpoint; every other status by class. Each case is produced for real: a backend's own status, an
/// upstream that drops the connection without answering (502), a refused connect (the proxy's 503), a backend that
/// never answers (504).
/// </summary>
public sealed class StatusCodeMetricsTests
{
    [Fact]
    public async Task FiveHundreds_AreCountedByExactCode_AndEverySeriesAddsUpToWhatWasSent()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var web = await TestBackend.StartAsync("web", "127.0.0.2", context =>
        {
            // /status/NNN answers NNN.
            context.Response.StatusCode = int.Parse(context.Request.Path.Value!["/status/".Length..], CultureInfo.InvariantCulture);
            return Task.CompletedTask;
        });
        await using var dropper = new RawUpstream(_ => [], "127.0.0.3"); // reads the request head, closes without a byte
        await using var hanging = await TestBackend.StartAsync("hanging", "127.0.0.4", async context =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                // The proxy gave up.
            }
        });
        var dead = Loopback.DeadEndpoint("127.0.0.5");

        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, web.Address);
        options.Routes[0].Name = "main";
        AddCluster(options, "drop", dropper.Address, "/drop");
        AddCluster(options, "refused", dead, "/refused");
        AddCluster(options, "slow", hanging.Address, "/slow").ResponseHeaderTimeout = TimeSpan.FromMilliseconds(300);
        foreach (var cluster in options.Clusters.Values)
        {
            cluster.OutlierDetection.Enabled = false;
            cluster.MaxAttempts = 1;
        }

        await using var proxy = await TestProxy.StartAsync(options);
        using var app = new AppMeterListener(proxy.Services.GetRequiredService<IMeterFactory>());

        // What is sent, by status the client must see.
        var webSent = new Dictionary<int, int> { [200] = 3, [404] = 2, [500] = 4, [501] = 1, [503] = 2, [505] = 1 };
        foreach (var (status, times) in webSent)
        {
            for (var i = 0; i < times; i++)
            {
                await ExpectAsync(proxy.Client.GetAsync($"/status/{status}", ct), status);
            }
        }

        for (var i = 0; i < 3; i++)
        {
            await ExpectAsync(proxy.Client.PostAsync("/drop", new StringContent("once"), ct), 502);
        }

        for (var i = 0; i < 2; i++)
        {
            await ExpectAsync(proxy.Client.GetAsync("/refused", ct), 503);
            await ExpectAsync(proxy.Client.GetAsync("/slow", ct), 504);
        }

        var text = await proxy.Admin.GetStringAsync("metrics", ct);

        // Per cluster: the classes below 5xx, 5xx by code, 501 and 505 together as "5xx".
        var web5 = new Dictionary<string, long> { ["none"] = 0, ["1xx"] = 0, ["2xx"] = 3, ["3xx"] = 0, ["4xx"] = 2, ["500"] = 4, ["502"] = 0, ["503"] = 2, ["504"] = 0, ["5xx"] = 2 };
        AssertSeries(text, "lb_proxy_requests_total", "cluster=\"web\",", web5);
        AssertSeries(text, "lb_proxy_requests_total", "cluster=\"drop\",", Only("502", 3));
        AssertSeries(text, "lb_proxy_requests_total", "cluster=\"refused\",", Only("503", 2));
        AssertSeries(text, "lb_proxy_requests_total", "cluster=\"slow\",", Only("504", 2));
        Assert.Equal(webSent.Values.Sum() + 3 + 2 + 2, Sum(text, "lb_proxy_requests_total", ""));
        Assert.Equal(4 + 3 + 2 + 2 + 2 + 2, Sum(text, "lb_proxy_requests_total", "", code => code.StartsWith('5')));

        // Per route, the same counts.
        AssertSeries(text, "lb_proxy_route_requests_total", "", web5, ",route=\"main\"");
        AssertSeries(text, "lb_proxy_route_requests_total", "", Only("502", 3), ",route=\"drop\"");
        AssertSeries(text, "lb_proxy_route_requests_total", "", Only("503", 2), ",route=\"refused\"");
        AssertSeries(text, "lb_proxy_route_requests_total", "", Only("504", 2), ",route=\"slow\"");

        // Per endpoint: only what endpoints answered; the proxy's own 502/503/504 are failures, not responses.
        var webEndpoint = new Dictionary<string, long>(web5);
        webEndpoint.Remove("none");
        AssertSeries(text, "lb_proxy_endpoint_responses_total", "cluster=\"web\",", webEndpoint, $",endpoint=\"{web.Address}\"");
        Assert.Equal(0, Sum(text, "lb_proxy_endpoint_responses_total", $"cluster=\"drop\","));
        Assert.Contains($"lb_proxy_endpoint_errors_total{{cluster=\"drop\",endpoint=\"{dropper.Address}\",kind=\"reset\"}} 3\n", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_endpoint_errors_total{{cluster=\"refused\",endpoint=\"{dead}\",kind=\"connect_refused\"}} 2\n", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_endpoint_errors_total{{cluster=\"slow\",endpoint=\"{hanging.Address}\",kind=\"timeout\"}} 2\n", text, StringComparison.Ordinal);

        // The same instruments, as an embedding application's pipeline sees them.
        app.Collect();
        Assert.Equal(4, app.Value("lb.proxy.requests", "cluster=web,code=500"));
        Assert.Equal(2, app.Value("lb.proxy.requests", "cluster=web,code=5xx"));
        Assert.Equal(3, app.Value("lb.proxy.requests", "cluster=drop,code=502"));
        Assert.Equal(2, app.Value("lb.proxy.route.requests", "route=slow,code=504"));
        Assert.Equal(2, app.Value("lb.proxy.endpoint.responses", $"cluster=web,endpoint={web.Address},code=503"));

        // /backends keeps one total per class.
        var backends = await proxy.Admin.GetStringAsync("backends?cluster=web", ct);
        Assert.Contains("\"5xx\": 8", backends, StringComparison.Ordinal);
    }

    private static ClusterOptions AddCluster(ProxyOptions options, string name, string endpoint, string path)
    {
        var cluster = new ClusterOptions();
        cluster.Endpoints.Add(new EndpointOptions { Address = endpoint });
        options.Clusters[name] = cluster;
        options.Routes.Insert(0, new ProxyRouteOptions { Name = name, Path = path, Cluster = name });
        return cluster;
    }

    private static async Task ExpectAsync(Task<HttpResponseMessage> request, int status)
    {
        using var response = await request;
        Assert.Equal(status, (int)response.StatusCode);
    }

    private static Dictionary<string, long> Only(string code, long count)
    {
        var all = new Dictionary<string, long>();
        foreach (var name in new[] { "none", "1xx", "2xx", "3xx", "4xx", "500", "502", "503", "504", "5xx" })
        {
            all[name] = name == code ? count : 0;
        }

        return all;
    }

    /// <summary>Every expected series is on /metrics with exactly its value, and the family has no other code for these labels.</summary>
    private static void AssertSeries(string text, string family, string before, Dictionary<string, long> expected, string after = "")
    {
        foreach (var (code, value) in expected)
        {
            Assert.Contains($"{family}{{{before}code=\"{code}\"{after}}} {value}\n", text, StringComparison.Ordinal);
        }

        var codes = Regex.Matches(text, $"^{family}\\{{{Regex.Escape(before)}code=\"([^\"]+)\"{Regex.Escape(after)}\\}} ", RegexOptions.Multiline).Select(m => m.Groups[1].Value);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), codes.Order(StringComparer.Ordinal));
    }

    /// <summary>The sum of a family's samples whose labels start with <paramref name="before"/>, optionally only some codes.</summary>
    private static long Sum(string text, string family, string before, Func<string, bool>? code = null) =>
        Regex.Matches(text, $"^{family}\\{{{Regex.Escape(before)}[^}}]*?code=\"([^\"]+)\"[^}}]*\\}} (\\d+)$", RegexOptions.Multiline)
            .Where(m => code is null || code(m.Groups[1].Value))
            .Sum(m => long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
}
