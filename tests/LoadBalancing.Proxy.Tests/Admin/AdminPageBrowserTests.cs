using System.Globalization;
using System.Net;
using System.Text.Json;
using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Admin;

/// <summary>
/// The admin page at <c>/</c> in a real headless Chromium against a real proxy with real backends: what it draws is
/// what the proxy knows, sorting and refreshing work, and the page throws nothing under its Content-Security-Policy.
/// </summary>
public sealed class AdminPageBrowserTests
{
    private static readonly TimeSpan Overall = TimeSpan.FromSeconds(120);

    // Every endpoint row of one cluster's table, in the order shown: column key -> cell text.
    private static string RowsScript(string cluster) =>
        $"JSON.stringify([...document.querySelectorAll('table[data-table=\"endpoints:{cluster}\"] tbody tr')]" +
        ".map(tr => Object.fromEntries([...tr.cells].map(td => [td.dataset.col, td.textContent]))))";

    [Fact]
    public async Task AdminPage_InChromium_ShowsWhatTheProxyKnows_SortsByColumn_AndRefreshes()
    {
        var chromium = RequireChromium();

        // "ok" answers 200, "failing" answers 500 (not retried), "dead" refuses connections. Weights 10, 2, 1: sorted as
        // numbers they go 1, 2, 10; as text they would go 1, 10, 2.
        await using var ok = await TestBackend.StartAsync("ok", "127.0.0.2");
        await using var failing = await TestBackend.StartAsync("failing", "127.0.0.3", context =>
        {
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return context.Response.WriteAsync("failing");
        });
        var dead = Loopback.DeadEndpoint("127.0.0.4");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin);
        options.Clusters["web"].Endpoints.Add(new EndpointOptions { Address = ok.Address, Weight = 10 });
        options.Clusters["web"].Endpoints.Add(new EndpointOptions { Address = failing.Address, Weight = 2 });
        options.Clusters["web"].Endpoints.Add(new EndpointOptions { Address = dead, Weight = 1 });
        options.Clusters["web"].OutlierDetection.Enabled = false; // every endpoint keeps taking its share

        // "api" is fed by a discovery source that has confirmed its list: freshness "current", hashed by a header.
        options.Clusters["api"] = new ClusterOptions
        {
            Algorithm = LoadBalancingAlgorithm.RingHash,
            HashKey = { Source = HashKeySource.Header, Name = "x-user" },
            Endpoints = { new EndpointOptions { Address = ok.Address } },
        };
        options.Routes.Insert(0, new ProxyRouteOptions { Path = "/api", Cluster = "api" });
        var discovery = new EndpointSource("api");
        var (okHost, okPort) = HostAndPort(ok.Address);
        discovery.Publish([new BackendEndpoint(okHost, okPort)]);
        discovery.Confirm();
        await using var proxy = await TestProxy.StartAsync(options, configure: p => p.UseEndpointSource("api", discovery, stalenessBound: TimeSpan.FromMinutes(10)));
        using var overall = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        overall.CancelAfter(Overall);
        var ct = overall.Token;

        // Round-robin cursors are per thread: send until every endpoint has been tried (bounded).
        var statuses = new Dictionary<HttpStatusCode, int>();
        for (var sent = 0; sent < 300 && (sent < 30 || ok.Requests.IsEmpty || failing.Requests.IsEmpty || ConnectFailures(proxy) == 0); sent++)
        {
            using var response = await proxy.Client.GetAsync("/", ct);
            statuses[response.StatusCode] = statuses.GetValueOrDefault(response.StatusCode) + 1;
        }

        Assert.True(ConnectFailures(proxy) > 0 && !failing.Requests.IsEmpty, "the traffic never reached every endpoint");
        await using var browser = await HeadlessChromium.StartAsync(chromium, ct);
        var page = $"http://{proxy.AdminEndPoint}/";
        await browser.NavigateAsync(page + "?refresh=1", ct);
        await browser.WaitForAsync("document.body?.dataset.refreshes >= 1 && document.querySelectorAll('section.cluster').length === 2", TimeSpan.FromSeconds(30), ct);

        // The clusters, and each one's endpoints, are the proxy's own.
        var shown = await EvaluateStringsAsync(browser, "[...document.querySelectorAll('section.cluster')].map(s => s.dataset.cluster)", ct);
        Assert.Equal(proxy.Runtime.Clusters.Select(c => c.Name), shown);
        foreach (var cluster in proxy.Runtime.Clusters)
        {
            var addresses = (await RowsAsync(browser, cluster.Name, ct)).Select(r => r["address"]).Order();
            Assert.Equal(cluster.Source.Current.Endpoints.Select(e => $"{e.Address}:{e.Port}").Order(), addresses);
        }

        // The totals shown are what was sent and answered.
        var rows = (await RowsAsync(browser, "web", ct)).ToDictionary(r => r["address"]);
        Assert.Equal(Text(ok.Requests.Count), rows[ok.Address]["requests"]);
        Assert.Equal(Text(statuses.GetValueOrDefault(HttpStatusCode.OK)), rows[ok.Address]["2xx"]);
        Assert.Equal("0", rows[ok.Address]["5xx"]);
        Assert.Equal(Text(failing.Requests.Count), rows[failing.Address]["requests"]);
        Assert.Equal(Text(statuses.GetValueOrDefault(HttpStatusCode.InternalServerError)), rows[failing.Address]["5xx"]);
        Assert.Equal(failing.Requests.Count, statuses.GetValueOrDefault(HttpStatusCode.InternalServerError));
        Assert.Equal(Text(ConnectFailures(proxy)), rows[dead]["connectFailures"]);
        Assert.Equal(rows[dead]["requests"], rows[dead]["retriedElsewhere"]);
        Assert.StartsWith("connect_refused: ", rows[dead]["lastError"], StringComparison.Ordinal);
        Assert.Equal("", rows[ok.Address]["lastError"]);
        Assert.Equal(["10", "2", "1"], new[] { ok.Address, failing.Address, dead }.Select(a => rows[a]["weight"]));
        Assert.Equal("ready, serving", rows[ok.Address]["conditions"]);

        // Per cluster: freshness by class, algorithm, hash settings; the header: readiness.
        Assert.Equal("freshness freshness-static", await EvaluateStringAsync(browser, "document.querySelector('section[data-cluster=\"web\"] [data-field=\"freshness\"]').className", ct));
        Assert.Equal("freshness freshness-current", await EvaluateStringAsync(browser, "document.querySelector('section[data-cluster=\"api\"] [data-field=\"freshness\"]').className", ct));
        Assert.Equal("RingHash", await EvaluateStringAsync(browser, "document.querySelector('section[data-cluster=\"api\"] [data-field=\"algorithm\"]').textContent", ct));
        Assert.Equal("Header x-user", await EvaluateStringAsync(browser, "document.querySelector('section[data-cluster=\"api\"] [data-field=\"hashKey\"]').textContent", ct));
        Assert.Equal("ready", await EvaluateStringAsync(browser, "document.getElementById('readiness').textContent", ct));

        // A click on a numeric column's header sorts ascending by number, a second click descending.
        const string WeightHeader = "document.querySelector('table[data-table=\"endpoints:web\"] th[data-col=\"weight\"]')";
        await browser.EvaluateAsync(WeightHeader + ".click()", ct);
        Assert.Equal([dead, failing.Address, ok.Address], (await RowsAsync(browser, "web", ct)).Select(r => r["address"]));
        Assert.Equal("ascending", await EvaluateStringAsync(browser, WeightHeader + ".getAttribute('aria-sort')", ct));
        Assert.Equal("\u25B2", await EvaluateStringAsync(browser, WeightHeader + ".querySelector('.sort-indicator').textContent", ct));
        await browser.EvaluateAsync(WeightHeader + ".click()", ct);
        Assert.Equal([ok.Address, failing.Address, dead], (await RowsAsync(browser, "web", ct)).Select(r => r["address"]));
        Assert.Equal("descending", await EvaluateStringAsync(browser, WeightHeader + ".getAttribute('aria-sort')", ct));
        Assert.Equal("\u25BC", await EvaluateStringAsync(browser, WeightHeader + ".querySelector('.sort-indicator').textContent", ct));

        // More traffic: the page picks it up by itself and keeps the chosen order.
        for (var i = 0; i < 6; i++)
        {
            using var response = await proxy.Client.GetAsync("/", ct);
        }

        var attempts = ok.Requests.Count + failing.Requests.Count + ConnectFailures(proxy);
        await browser.WaitForAsync(
            $"[...document.querySelectorAll('table[data-table=\"endpoints:web\"] td[data-col=\"requests\"]')].reduce((a, td) => a + Number(td.textContent), 0) === {attempts}",
            TimeSpan.FromSeconds(30), ct);
        Assert.Equal([ok.Address, failing.Address, dead], (await RowsAsync(browser, "web", ct)).Select(r => r["address"]));
        Assert.Equal("descending", await EvaluateStringAsync(browser, WeightHeader + ".getAttribute('aria-sort')", ct));
        Assert.Equal(Text(ok.Requests.Count), (await RowsAsync(browser, "web", ct)).Single(r => r["address"] == ok.Address)["requests"]);

        // Unticked, the page stops reading; ticked again, it reads on. Two periods are watched for a refresh that must not come.
        await browser.EvaluateAsync("document.getElementById('auto').click()", ct);
        await browser.WaitForAsync("!document.body.dataset.busy && document.body.dataset.scheduled === 'no'", TimeSpan.FromSeconds(10), ct);
        var paused = await EvaluateStringAsync(browser, "document.body.dataset.refreshes", ct);
        await Task.Delay(TimeSpan.FromSeconds(2.5), ct);
        Assert.Equal(paused, await EvaluateStringAsync(browser, "document.body.dataset.refreshes", ct));
        await browser.EvaluateAsync("document.getElementById('auto').click()", ct);
        await browser.WaitForAsync($"Number(document.body.dataset.refreshes) > {paused}", TimeSpan.FromSeconds(10), ct);

        var screenshot = Path.Combine(Path.GetTempPath(), "lb-admin-page.png");
        await browser.ScreenshotAsync(screenshot, ct);
        TestContext.Current.TestOutputHelper?.WriteLine($"screenshot: {screenshot}");

        // ?cluster= is passed through to /backends.
        await browser.NavigateAsync(page + "?cluster=api", ct);
        await browser.WaitForAsync("location.search === '?cluster=api' && document.body?.dataset.refreshes >= 1", TimeSpan.FromSeconds(30), ct);
        Assert.Equal(["api"], await EvaluateStringsAsync(browser, "[...document.querySelectorAll('section.cluster')].map(s => s.dataset.cluster)", ct));

        Assert.True(browser.Errors.IsEmpty, "the page reported errors:\n" + string.Join("\n", browser.Errors));
    }

    [Fact]
    public async Task AdminPage_UnderThePodProxyPath_ReadsItsDataByRelativeUrls()
    {
        var chromium = RequireChromium();
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        using var overall = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        overall.CancelAfter(Overall);
        var ct = overall.Token;

        // Stands in for the API server's pod proxy: the admin port's paths under a prefix, and nothing outside it.
        const string Prefix = "/api/v1/namespaces/edge/pods/lb-proxy-0:9901/proxy";
        await using var apiServer = await TestBackend.StartAsync("api-server", "127.0.0.3", async context =>
        {
            if (!context.Request.Path.StartsWithSegments(Prefix, out var rest))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            using var answer = await proxy.Admin.GetAsync(rest.Value!.TrimStart('/') + context.Request.QueryString, context.RequestAborted);
            context.Response.StatusCode = (int)answer.StatusCode;
            context.Response.ContentType = answer.Content.Headers.ContentType?.ToString();
            if (answer.Headers.TryGetValues("Content-Security-Policy", out var csp))
            {
                context.Response.Headers.ContentSecurityPolicy = csp.Single();
            }

            await context.Response.Body.WriteAsync(await answer.Content.ReadAsByteArrayAsync(context.RequestAborted), context.RequestAborted);
        });

        await using var browser = await HeadlessChromium.StartAsync(chromium, ct);
        await browser.NavigateAsync($"http://{apiServer.Address}{Prefix}/", ct);
        await browser.WaitForAsync("document.body?.dataset.refreshes >= 1 && document.getElementById('readiness').textContent === 'ready'", TimeSpan.FromSeconds(30), ct);

        Assert.Equal([backend.Address], (await RowsAsync(browser, "web", ct)).Select(r => r["address"]));
        Assert.All(apiServer.Requests, r => Assert.StartsWith(Prefix + "/", r.Target, StringComparison.Ordinal));
        Assert.Contains(apiServer.Requests, r => r.Target == Prefix + "/backends");
        Assert.True(browser.Errors.IsEmpty, "the page reported errors:\n" + string.Join("\n", browser.Errors));
    }

    /// <summary>The Chromium to drive; without one the test is skipped, unless <c>LB_REQUIRE_BROWSER=1</c> (CI) makes that a failure.</summary>
    private static string RequireChromium()
    {
        if (HeadlessChromium.Find() is { } found)
        {
            return found;
        }

        var where = Environment.GetEnvironmentVariable(HeadlessChromium.PathVariable) is { Length: > 0 } path ? $"{HeadlessChromium.PathVariable}={path}" : "/usr/bin/chromium";
        if (Environment.GetEnvironmentVariable(HeadlessChromium.RequireVariable) == "1")
        {
            Assert.Fail($"{HeadlessChromium.RequireVariable}=1 but there is no Chromium ({where}).");
        }

        Assert.Skip($"No Chromium ({where}; Debian: apt-get install chromium). {HeadlessChromium.RequireVariable}=1 makes this a failure.");
        return null!;
    }

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static long ConnectFailures(TestProxy proxy) => proxy.Cluster().Metrics.Errors(UpstreamError.Connect);

    private static (string Host, int Port) HostAndPort(string address)
    {
        var colon = address.LastIndexOf(':');
        return (address[..colon], int.Parse(address[(colon + 1)..], CultureInfo.InvariantCulture));
    }

    private static async Task<List<Dictionary<string, string>>> RowsAsync(HeadlessChromium browser, string cluster, CancellationToken ct) =>
        JsonSerializer.Deserialize<List<Dictionary<string, string>>>(await EvaluateStringAsync(browser, RowsScript(cluster), ct))!;

    private static async Task<string> EvaluateStringAsync(HeadlessChromium browser, string expression, CancellationToken ct)
    {
        var value = await browser.EvaluateAsync(expression, ct);
        Assert.True(value.ValueKind == JsonValueKind.String, $"`{expression}` gave {value.ValueKind}, not a string");
        return value.GetString()!;
    }

    private static async Task<string[]> EvaluateStringsAsync(HeadlessChromium browser, string expression, CancellationToken ct) =>
        JsonSerializer.Deserialize<string[]>(await EvaluateStringAsync(browser, $"JSON.stringify({expression})", ct))!;
}
