using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancing.Proxy.Tests.Metrics;

public sealed class RouteMetricsTests
{
    [Fact]
    public async Task RouteSeries_CountEachRouteByCode_AndSurviveAReloadThatKeepsTheName()
    {
        await using var good = await TestBackend.StartAsync("good", "127.0.0.2");
        await using var bad = await TestBackend.StartAsync("bad", "127.0.0.3", context =>
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Task.CompletedTask;
        });
        var options = Options(good.Address, bad.Address);
        await using var proxy = await TestProxy.StartAsync(options);
        using var app = new MeterListener();
        var observed = new ConcurrentDictionary<string, long>();
        var factory = proxy.Services.GetRequiredService<IMeterFactory>();
        app.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Name == "lb.proxy.route.requests" && instrument.Meter.Scope == factory)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        app.SetMeasurementEventCallback<long>((_, v, t, _) => observed[$"{t[0].Key}={t[0].Value},{t[1].Key}={t[1].Value}"] = v);
        app.Start();
        var ct = TestContext.Current.CancellationToken;

        for (var i = 0; i < 3; i++)
        {
            using var ok = await proxy.Client.GetAsync("/", ct);
            using var failing = await proxy.Client.GetAsync("/bad", ct);
            using var direct = await proxy.Client.GetAsync("/gone", ct);
            Assert.Equal(200, (int)ok.StatusCode);
            Assert.Equal(503, (int)failing.StatusCode);
            Assert.Equal(410, (int)direct.StatusCode);
        }

        using (await proxy.Client.GetAsync("/bad", ct))
        {
        }

        var text = await proxy.Admin.GetStringAsync("metrics", ct);
        Assert.Contains("lb_proxy_route_requests_total{code=\"2xx\",route=\"main\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("lb_proxy_route_requests_total{code=\"503\",route=\"main\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("lb_proxy_route_requests_total{code=\"503\",route=\"bad\"} 4\n", text, StringComparison.Ordinal);
        Assert.Contains("lb_proxy_route_requests_total{code=\"2xx\",route=\"bad\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("lb_proxy_route_requests_total{code=\"4xx\",route=\"gone\"} 3\n", text, StringComparison.Ordinal);
        Assert.Equal(3 * 10, Regex.Count(text, "^lb_proxy_route_requests_total\\{", RegexOptions.Multiline));
        app.RecordObservableInstruments();
        Assert.Equal(4, observed["route=bad,code=503"]);
        Assert.Equal(3, observed["route=main,code=2xx"]);

        // A reload that changes the route (not its name) keeps its count; a removed route's series goes.
        var next = Options(good.Address, bad.Address);
        next.Routes[1].Path = "/failing";
        next.Routes.RemoveAt(2);
        var result = proxy.Runtime.Reload(next, [], "code");
        Assert.True(result.Outcome == ReloadOutcome.Applied, string.Join("\n", result.Errors));
        using (await proxy.Client.GetAsync("/failing", ct))
        {
        }

        var after = await proxy.Admin.GetStringAsync("metrics", ct);
        Assert.Contains("lb_proxy_route_requests_total{code=\"503\",route=\"bad\"} 5\n", after, StringComparison.Ordinal);
        Assert.Contains("lb_proxy_route_requests_total{code=\"2xx\",route=\"main\"} 3\n", after, StringComparison.Ordinal);
        Assert.DoesNotContain("route=\"gone\"", after, StringComparison.Ordinal);
    }

    private static ProxyOptions Options(string good, string bad)
    {
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, good);
        options.Routes[0].Name = "main";
        options.Routes.Add(new ProxyRouteOptions { Name = "bad", Path = "/bad", Cluster = "failing" });
        options.Routes.Add(new ProxyRouteOptions { Name = "gone", Path = "/gone", DirectResponse = new DirectResponseOptions { StatusCode = 410 } });
        var failing = new ClusterOptions { MaxAttempts = 1 };
        failing.Endpoints.Add(new EndpointOptions { Address = bad });
        options.Clusters["failing"] = failing;
        return options;
    }
}
