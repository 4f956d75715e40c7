using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancing.Proxy.Tests.Metrics;

public sealed class EndpointMetricsTests
{
    [Fact]
    public async Task EndpointSeries_NameThePodThatAnswers5xx_OnMetricsAndToAnEmbeddingApplication()
    {
        await using var good = await TestBackend.StartAsync("good", "127.0.0.2");
        await using var bad = await TestBackend.StartAsync("bad", "127.0.0.3", context =>
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Task.CompletedTask;
        });
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, good.Address, bad.Address);
        options.Clusters["web"].OutlierDetection.Enabled = false;
        await using var proxy = await TestProxy.StartAsync(options);
        using var app = new AppMeterListener(proxy.Services.GetRequiredService<IMeterFactory>());
        var ct = TestContext.Current.CancellationToken;

        const int Sent = 20;
        var answered503 = 0;
        for (var i = 0; i < Sent; i++)
        {
            using var response = await proxy.Client.GetAsync("/", ct);
            answered503 += (int)response.StatusCode == 503 ? 1 : 0;
        }

        var text = await proxy.Admin.GetStringAsync("metrics", ct);
        var k = bad.Requests.Count;

        Assert.Equal(Sent, good.Requests.Count + k);
        Assert.Equal(answered503, k);
        Assert.InRange(k, 1, Sent - 1);
        Assert.Contains($"lb_proxy_endpoint_responses_total{{cluster=\"web\",code=\"503\",endpoint=\"{bad.Address}\"}} {k}\n", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_endpoint_responses_total{{cluster=\"web\",code=\"2xx\",endpoint=\"{bad.Address}\"}} 0\n", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_endpoint_responses_total{{cluster=\"web\",code=\"2xx\",endpoint=\"{good.Address}\"}} {Sent - k}\n", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_endpoint_responses_total{{cluster=\"web\",code=\"503\",endpoint=\"{good.Address}\"}} 0\n", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_endpoint_requests_total{{cluster=\"web\",endpoint=\"{bad.Address}\"}} {k}\n", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_endpoint_requests_total{{cluster=\"web\",endpoint=\"{good.Address}\"}} {Sent - k}\n", text, StringComparison.Ordinal);
        foreach (var kind in new[] { "timeout", "reset", "connect_refused", "connect_unreachable", "connect_timeout", "connect_reset" })
        {
            Assert.Contains($"lb_proxy_endpoint_errors_total{{cluster=\"web\",endpoint=\"{bad.Address}\",kind=\"{kind}\"}} 0\n", text, StringComparison.Ordinal);
        }

        // The same instruments, through the application's IMeterFactory (what OpenTelemetry reads).
        app.Collect();
        Assert.Equal(k, app.Value("lb.proxy.endpoint.responses", $"cluster=web,endpoint={bad.Address},code=503"));
        Assert.Equal(Sent - k, app.Value("lb.proxy.endpoint.responses", $"cluster=web,endpoint={good.Address},code=2xx"));
        Assert.Equal(k, app.Value("lb.proxy.endpoint.requests", $"cluster=web,endpoint={bad.Address}"));
    }

    [Fact]
    public async Task EndpointSeries_ConnectRefused_CountedOnTheDeadEndpoint()
    {
        await using var good = await TestBackend.StartAsync("good", "127.0.0.2");
        var dead = Loopback.DeadEndpoint("127.0.0.3");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, good.Address, dead);
        options.Clusters["web"].OutlierDetection.Enabled = false;
        await using var proxy = await TestProxy.StartAsync(options);
        var ct = TestContext.Current.CancellationToken;

        for (var i = 0; i < 10; i++)
        {
            (await proxy.Client.GetAsync("/", ct)).EnsureSuccessStatusCode();
        }

        var text = await proxy.Admin.GetStringAsync("metrics", ct);
        var refused = proxy.Cluster().Metrics.Errors(LoadBalancing.Proxy.Metrics.UpstreamError.Connect);

        Assert.InRange(refused, 1, 10);
        Assert.Contains($"lb_proxy_endpoint_errors_total{{cluster=\"web\",endpoint=\"{dead}\",kind=\"connect_refused\"}} {refused}\n", text, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_endpoint_requests_total{{cluster=\"web\",endpoint=\"{dead}\"}} {refused}\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EndpointMetricsOff_ExportsNoEndpointSeries_AndOnAfterAReloadKeepsTheCluster()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        options.Clusters["web"].EndpointMetrics = EndpointMetricsMode.Off;
        await using var proxy = await TestProxy.StartAsync(options);
        using var app = new AppMeterListener(proxy.Services.GetRequiredService<IMeterFactory>());
        var ct = TestContext.Current.CancellationToken;
        (await proxy.Client.GetAsync("/", ct)).EnsureSuccessStatusCode();
        var cluster = proxy.Cluster();

        var off = await proxy.Admin.GetStringAsync("metrics", ct);
        app.Collect();
        Assert.Equal(0, EndpointSamples(off));
        Assert.Contains("# TYPE lb_proxy_endpoint_responses_total counter\n", off, StringComparison.Ordinal);
        Assert.False(app.Any("lb.proxy.endpoint.requests"));

        var next = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        next.Clusters["web"].EndpointMetrics = EndpointMetricsMode.On;
        var result = proxy.Runtime.Reload(next, [], "code");
        var on = await proxy.Admin.GetStringAsync("metrics", ct);
        var config = await proxy.Admin.GetStringAsync("config", ct);

        Assert.True(result.Outcome == ReloadOutcome.Applied, string.Join("\n", result.Errors));
        Assert.Same(cluster, proxy.Cluster());
        Assert.Contains("\"EndpointMetrics\": \"On\"", config, StringComparison.Ordinal);
        Assert.Contains($"lb_proxy_endpoint_responses_total{{cluster=\"web\",code=\"2xx\",endpoint=\"{backend.Address}\"}} 1\n", on, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(50, EndpointMetricsMode.Auto, 50)]
    [InlineData(51, EndpointMetricsMode.Auto, 0)]
    [InlineData(51, EndpointMetricsMode.On, 51)]
    public async Task EndpointMetricsAuto_ExportsAtMost50Endpoints(int endpoints, EndpointMetricsMode mode, int exported)
    {
        // Nothing listens on these; no request is sent, the series exist at 0.
        var addresses = Enumerable.Range(1, endpoints).Select(i => $"127.0.9.{i}:9").ToArray();
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, addresses);
        options.Clusters["web"].EndpointMetrics = mode;
        await using var proxy = await TestProxy.StartAsync(options);
        using var app = new AppMeterListener(proxy.Services.GetRequiredService<IMeterFactory>());

        var text = await proxy.Admin.GetStringAsync("metrics", TestContext.Current.CancellationToken);
        app.Collect();

        Assert.Equal(exported, Regex.Count(text, "^lb_proxy_endpoint_requests_total\\{", RegexOptions.Multiline));
        Assert.Equal(exported * 9, Regex.Count(text, "^lb_proxy_endpoint_responses_total\\{", RegexOptions.Multiline));
        Assert.Equal(exported * 7, Regex.Count(text, "^lb_proxy_endpoint_errors_total\\{", RegexOptions.Multiline));
        Assert.Equal(exported, app.Count("lb.proxy.endpoint.requests"));
        if (exported > 0)
        {
            Assert.Contains("lb_proxy_endpoint_requests_total{cluster=\"web\",endpoint=\"127.0.9.50:9\"} 0\n", text, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("Off", EndpointMetricsMode.Off)]
    [InlineData("On", EndpointMetricsMode.On)]
    [InlineData("Auto", EndpointMetricsMode.Auto)]
    public void EndpointMetrics_IsReadFromConfiguration(string value, EndpointMetricsMode expected)
    {
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Proxy:Clusters:web:Endpoints:0:Address"] = "127.0.0.1:9",
                ["Proxy:Clusters:web:EndpointMetrics"] = value,
            })
            .Build();

        ProxyConfiguration.TryLoad(configuration.GetSection("Proxy"), out var options, out var errors);

        Assert.Equal(expected, options.Clusters["web"].EndpointMetrics);
        Assert.DoesNotContain(errors, e => e.Contains("EndpointMetrics", StringComparison.Ordinal));
    }

    [Fact]
    public void EndpointMetrics_UnknownValue_IsAnError()
    {
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Proxy:Clusters:web:Endpoints:0:Address"] = "127.0.0.1:9",
                ["Proxy:Clusters:web:EndpointMetrics"] = "Sometimes",
            })
            .Build();

        Assert.False(ProxyConfiguration.TryLoad(configuration.GetSection("Proxy"), out _, out var errors));
        Assert.Contains(errors, e => e.Contains("Proxy:Clusters:web:EndpointMetrics", StringComparison.Ordinal));
        Assert.Contains(ProxyOptionsValidation.GetErrors(new ProxyOptions { Clusters = { ["web"] = new ClusterOptions { EndpointMetrics = (EndpointMetricsMode)7 } } }, "Proxy"),
            e => e.Contains("Proxy:Clusters:web:EndpointMetrics must be Auto, On or Off", StringComparison.Ordinal));
    }

    private static int EndpointSamples(string text) => Regex.Count(text, "^lb_proxy_endpoint_[a-z_]+\\{", RegexOptions.Multiline);
}
