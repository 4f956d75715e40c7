using System.Net;
using System.Text.Json;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Proxy.Tests.Admin;

/// <summary><c>/backends</c>' running totals add up to what was sent, over real sockets with injected failures.</summary>
public sealed class BackendsTotalsTests
{
    [Fact]
    public async Task Totals_UnderInjectedFailures_AddUpToWhatWasSentAndAnswered()
    {
        // A healthy endpoint; one that answers 503 to every third request it gets; a refused port; one that never answers.
        var flakyCount = 0;
        var flaky503 = 0;
        var hangingArrived = 0;
        await using var ok = await TestBackend.StartAsync("ok", "127.0.0.2");
        await using var flaky = await TestBackend.StartAsync("flaky", "127.0.0.3", async context =>
        {
            if (Interlocked.Increment(ref flakyCount) % 3 == 0)
            {
                Interlocked.Increment(ref flaky503);
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            }

            await context.Response.WriteAsync("flaky");
        });
        await using var hanging = await TestBackend.StartAsync("hanging", "127.0.0.4", async context =>
        {
            Interlocked.Increment(ref hangingArrived);
            var gone = new TaskCompletionSource();
            using var registration = context.RequestAborted.Register(() => gone.TrySetResult());
            await gone.Task.WaitAsync(TimeSpan.FromSeconds(20));
        });
        var dead = Loopback.DeadEndpoint("127.0.0.5");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, ok.Address, flaky.Address, dead, hanging.Address);
        options.Clusters["web"].OutlierDetection.Enabled = false; // every endpoint stays in rotation
        options.Clusters["web"].ResponseHeaderTimeout = TimeSpan.FromMilliseconds(300);
        await using var proxy = await TestProxy.StartAsync(options);
        var ct = TestContext.Current.CancellationToken;

        // Round-robin cursors are per thread: send at least 40, and on until every endpoint has been tried (bounded).
        var statuses = new Dictionary<HttpStatusCode, int>();
        var sent = 0;
        while (sent < 200 && (sent < 40 || ok.Requests.IsEmpty || flaky503 == 0 || Volatile.Read(ref hangingArrived) == 0 || proxy.Cluster().Metrics.Errors(LoadBalancing.Proxy.Metrics.UpstreamError.Connect) == 0))
        {
            using var response = await proxy.Client.GetAsync("/", ct);
            statuses[response.StatusCode] = statuses.GetValueOrDefault(response.StatusCode) + 1;
            sent++;
        }

        using var json = JsonDocument.Parse(await proxy.Admin.GetStringAsync("backends", ct));
        var endpoints = json.RootElement.GetProperty("clusters")[0].GetProperty("endpoints").EnumerateArray()
            .ToDictionary(e => $"{e.GetProperty("address").GetString()}:{e.GetProperty("port").GetInt32()}");
        var all = endpoints.Values.ToArray();
        long Sum(Func<JsonElement, long> f) => all.Sum(f);
        static long Responses(JsonElement e, string statusClass) => e.GetProperty("responses").GetProperty(statusClass).GetInt64();
        static long Connect(JsonElement e, string kind) => e.GetProperty("connectFailures").GetProperty(kind).GetInt64();

        // Every attempt counts once: the client's requests plus one per retry on another endpoint.
        Assert.Equal(sent + Sum(e => e.GetProperty("retriedElsewhere").GetInt64()), Sum(e => e.GetProperty("requests").GetInt64()));

        // The healthy endpoint: what it received, all 2xx.
        var live = endpoints[ok.Address];
        Assert.Equal(ok.Requests.Count, live.GetProperty("requests").GetInt64());
        Assert.Equal(ok.Requests.Count, Responses(live, "2xx"));
        Assert.Equal(0, Responses(live, "5xx"));

        // The flaky endpoint: its 503s exactly, and the rest 2xx.
        var flakyJson = endpoints[flaky.Address];
        Assert.Equal(flakyCount, flakyJson.GetProperty("requests").GetInt64());
        Assert.Equal(flaky503, Responses(flakyJson, "5xx"));
        Assert.Equal(flakyCount - flaky503, Responses(flakyJson, "2xx"));

        // The refused port: every attempt a refused connect, each retried elsewhere, no response.
        var deadJson = endpoints[dead];
        var refused = deadJson.GetProperty("requests").GetInt64();
        Assert.True(refused > 0);
        Assert.Equal(refused, Connect(deadJson, "refused"));
        Assert.Equal(0, Connect(deadJson, "unreachable") + Connect(deadJson, "timeout") + Connect(deadJson, "reset"));
        Assert.Equal(refused, deadJson.GetProperty("retriedElsewhere").GetInt64());
        Assert.Equal(0, Responses(deadJson, "2xx") + Responses(deadJson, "5xx"));
        Assert.Equal("connect_refused", deadJson.GetProperty("lastError").GetProperty("kind").GetString());

        // The hanging endpoint: every attempt reached it and timed out waiting for the response head.
        var hangingJson = endpoints[hanging.Address];
        Assert.Equal(Volatile.Read(ref hangingArrived), hangingJson.GetProperty("requests").GetInt64());
        Assert.Equal(hangingJson.GetProperty("requests").GetInt64(), hangingJson.GetProperty("timeouts").GetInt64());
        Assert.Equal("timeout", hangingJson.GetProperty("lastError").GetProperty("kind").GetString());

        // What the client saw is what the endpoints answered.
        Assert.Equal(Sum(e => Responses(e, "2xx")), statuses.GetValueOrDefault(HttpStatusCode.OK));
        Assert.Equal(Sum(e => Responses(e, "5xx")), statuses.GetValueOrDefault(HttpStatusCode.ServiceUnavailable));
        Assert.Equal(Sum(e => e.GetProperty("timeouts").GetInt64()), statuses.GetValueOrDefault(HttpStatusCode.GatewayTimeout));
        Assert.Equal(sent, statuses.Values.Sum());
        Assert.Equal(0, Sum(e => e.GetProperty("resets").GetInt64()));
    }

    [Fact]
    public async Task Backends_FilteredByCluster_ShowsThatClusterOnly_UnknownIs404()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        options.Clusters["other"] = new ClusterOptions { Endpoints = { new EndpointOptions { Address = backend.Address } } };
        options.Routes.Add(new ProxyRouteOptions { Path = "/other", Cluster = "other" });
        await using var proxy = await TestProxy.StartAsync(options);
        var ct = TestContext.Current.CancellationToken;
        (await proxy.Client.GetAsync("/", ct)).EnsureSuccessStatusCode();

        using var json = JsonDocument.Parse(await proxy.Admin.GetStringAsync("backends?cluster=web", ct));
        using var unknown = await proxy.Admin.GetAsync("backends?cluster=nope", ct);

        var cluster = Assert.Single(json.RootElement.GetProperty("clusters").EnumerateArray());
        Assert.Equal("web", cluster.GetProperty("name").GetString());
        Assert.Equal(1, cluster.GetProperty("endpoints")[0].GetProperty("requests").GetInt64());
        Assert.False(json.RootElement.TryGetProperty("routes", out _));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("no cluster named 'nope'; clusters: other, web\n", await unknown.Content.ReadAsStringAsync(ct));
    }

    [Fact]
    public async Task Ejection_AndReturn_AreShownAndLoggedOnce_WithPanicMode()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var logs = new CapturedLogs();
        await using var live = await TestBackend.StartAsync("live", "127.0.0.2");
        var dead = Loopback.DeadEndpoint("127.0.0.3");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, dead, live.Address);
        options.Clusters["web"].OutlierDetection.ConsecutiveFailures = 1;
        options.Clusters["web"].PanicThresholdPercent = 60; // one of two healthy is too few
        await using var proxy = await TestProxy.StartAsync(options, time, p => p.Services.AddSingleton<ILoggerProvider>(logs));
        var ct = TestContext.Current.CancellationToken;
        var started = time.GetUtcNow();

        // Round-robin cursors are per thread: send until a request has met the dead endpoint (and ejected it).
        for (var i = 0; i < 50 && proxy.Cluster().Metrics.Errors(LoadBalancing.Proxy.Metrics.UpstreamError.Connect) == 0; i++)
        {
            (await proxy.Client.GetAsync("/", ct)).EnsureSuccessStatusCode();
        }

        using (var json = JsonDocument.Parse(await proxy.Admin.GetStringAsync("backends?cluster=web", ct)))
        {
            var endpoints = json.RootElement.GetProperty("clusters")[0].GetProperty("endpoints").EnumerateArray()
                .ToDictionary(e => $"{e.GetProperty("address").GetString()}:{e.GetProperty("port").GetInt32()}");
            var ejected = endpoints[dead];
            Assert.Equal(1, ejected.GetProperty("ejectionsTotal").GetInt32());
            Assert.Equal("1 consecutive failure", ejected.GetProperty("lastEjection").GetProperty("reason").GetString());
            Assert.Equal(started, ejected.GetProperty("lastEjection").GetProperty("at").GetDateTimeOffset());
            Assert.Equal(started, ejected.GetProperty("lastStateChange").GetDateTimeOffset());
            Assert.Equal(0, endpoints[live.Address].GetProperty("ejectionsTotal").GetInt32());
            Assert.False(endpoints[live.Address].TryGetProperty("lastEjection", out _));
        }

        // The ejection runs out (30 s base): the balancer's timer returns the endpoint.
        time.Advance(TimeSpan.FromSeconds(31));
        var returnedAt = time.GetUtcNow();
        using (var json = JsonDocument.Parse(await proxy.Admin.GetStringAsync("backends?cluster=web", ct)))
        {
            var returned = json.RootElement.GetProperty("clusters")[0].GetProperty("endpoints").EnumerateArray()
                .Single(e => $"{e.GetProperty("address").GetString()}:{e.GetProperty("port").GetInt32()}" == dead);
            Assert.False(returned.GetProperty("ejected").GetBoolean());
            Assert.Equal(returnedAt, returned.GetProperty("lastStateChange").GetDateTimeOffset());
        }

        const string category = "LoadBalancing.Proxy.Clusters";
        var ejectedLine = Assert.Single(logs.Messages(category, 1));
        Assert.Equal($"Cluster web: endpoint {dead} ejected (1 consecutive failure) until {started.AddSeconds(30):O}.", ejectedLine);
        Assert.Equal($"Cluster web: endpoint {dead} returned to service, its ejection over.", Assert.Single(logs.Messages(category, 2)));
        Assert.StartsWith("Cluster web entered panic mode (1 of 2 eligible endpoints healthy", Assert.Single(logs.Messages(category, 3)), StringComparison.Ordinal);
        Assert.StartsWith("Cluster web left panic mode (2 of 2", Assert.Single(logs.Messages(category, 4)), StringComparison.Ordinal);
        Assert.Equal(LogLevel.Warning, logs.Lines.Single(l => l.Category == category && l.EventId == 1).Level);
    }

    [Fact]
    public async Task Fallback_IsLoggedOncePerTransition_NotPerRequest()
    {
        var logs = new CapturedLogs();
        await using var fallback = await TestBackend.StartAsync("fallback", "127.0.0.2");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, Loopback.DeadEndpoint("127.0.0.3"));
        options.Clusters["web"].OutlierDetection.Enabled = false;
        options.Clusters["web"].Fallback = fallback.Address;
        await using var proxy = await TestProxy.StartAsync(options, configure: p => p.Services.AddSingleton<ILoggerProvider>(logs));
        var ct = TestContext.Current.CancellationToken;

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("fallback", await proxy.Client.GetStringAsync("/", ct));
        }

        Assert.Equal(5, fallback.Requests.Count);
        Assert.Equal($"Cluster web: no endpoint could take a request; sending to the fallback {fallback.Address}. Logged again only after an endpoint has answered.",
            Assert.Single(logs.Messages("LoadBalancing.Proxy.Clusters", 5)));
    }

    [Fact]
    public async Task Totals_SurviveAnEndpointSetUpdate_ForTheEndpointsThatStay()
    {
        await using var stays = await TestBackend.StartAsync("stays", "127.0.0.2");
        await using var leaves = await TestBackend.StartAsync("leaves", "127.0.0.3");
        await using var joins = await TestBackend.StartAsync("joins", "127.0.0.4");
        var source = new EndpointSource("web");
        source.Publish([Endpoint(stays.Address), Endpoint(leaves.Address)]);
        await using var proxy = await TestProxy.StartAsync(
            TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, stays.Address),
            configure: p => p.UseEndpointSource("web", source, stalenessBound: null));
        var ct = TestContext.Current.CancellationToken;
        for (var i = 0; i < 50 && (i < 6 || stays.Requests.IsEmpty); i++)
        {
            (await proxy.Client.GetAsync("/", ct)).EnsureSuccessStatusCode();
        }

        source.Publish([Endpoint(stays.Address), Endpoint(joins.Address)]);

        using var json = JsonDocument.Parse(await proxy.Admin.GetStringAsync("backends?cluster=web", ct));
        var endpoints = json.RootElement.GetProperty("clusters")[0].GetProperty("endpoints").EnumerateArray()
            .ToDictionary(e => $"{e.GetProperty("address").GetString()}:{e.GetProperty("port").GetInt32()}");
        Assert.Equal(2, endpoints.Count);
        Assert.Equal(stays.Requests.Count, endpoints[stays.Address].GetProperty("requests").GetInt64());
        Assert.Equal(stays.Requests.Count, endpoints[stays.Address].GetProperty("responses").GetProperty("2xx").GetInt64());
        Assert.Equal(0, endpoints[joins.Address].GetProperty("requests").GetInt64());
    }

    private static BackendEndpoint Endpoint(string address)
    {
        var colon = address.LastIndexOf(':');
        return new BackendEndpoint(address[..colon], int.Parse(address[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }
}
