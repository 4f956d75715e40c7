using System.Net;
using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Routing;

/// <summary>
/// A route's retry policy and timeouts against real backends: one answering 503, one answering 200, one hanging,
/// and an address nothing listens on. Round-robin decides which endpoint a request tries first, so tests that need
/// the first attempt on a particular endpoint send tagged requests until that endpoint has seen one (a few at most).
/// </summary>
public sealed class RouteRetryTests
{
    private const int MaxTries = 40;

    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task On503_AGetIsRetriedOnTheOtherEndpoint()
    {
        await using var failing = await Unavailable();
        await using var healthy = await TestBackend.StartAsync("healthy", "127.0.0.3");
        await using var proxy = await TestProxy.StartAsync(Options(Retry("503"), failing, healthy));

        var (id, response, body) = await SendUntilSeenByAsync(proxy, failing, HttpMethod.Get);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("healthy", body);
        Assert.Single(failing.Requests, r => Tagged(r, id));
        Assert.Single(healthy.Requests, r => Tagged(r, id));
        Assert.Equal(1, proxy.Cluster().Metrics.Retries);
    }

    [Fact]
    public async Task On503_APostWithABody_IsNotRetried()
    {
        await using var failing = await Unavailable();
        await using var healthy = await TestBackend.StartAsync("healthy", "127.0.0.3");
        await using var proxy = await TestProxy.StartAsync(Options(Retry("503"), failing, healthy));

        var (id, response, body) = await SendUntilSeenByAsync(proxy, failing, HttpMethod.Post);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("unavailable", body); // the upstream's own answer, not the proxy's
        Assert.DoesNotContain(healthy.Requests, r => Tagged(r, id));
        Assert.Equal(0, proxy.Cluster().Metrics.Retries);
    }

    [Fact]
    public async Task DefaultPolicy_DoesNotRetry503()
    {
        await using var failing = await Unavailable();
        await using var healthy = await TestBackend.StartAsync("healthy", "127.0.0.3");
        await using var proxy = await TestProxy.StartAsync(Options(retry: null, failing, healthy));

        var (id, response, body) = await SendUntilSeenByAsync(proxy, failing, HttpMethod.Get);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("unavailable", body);
        Assert.DoesNotContain(healthy.Requests, r => Tagged(r, id));
    }

    [Fact]
    public async Task MaxAttemptsOne_DisablesRetries()
    {
        await using var failing = await Unavailable();
        await using var healthy = await TestBackend.StartAsync("healthy", "127.0.0.3");
        var retry = Retry("503", "connect-failure");
        retry.MaxAttempts = 1;
        await using var proxy = await TestProxy.StartAsync(Options(retry, failing, healthy));

        var (id, response, body) = await SendUntilSeenByAsync(proxy, failing, HttpMethod.Get);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("unavailable", body);
        Assert.DoesNotContain(healthy.Requests, r => Tagged(r, id));
        Assert.Equal(0, proxy.Cluster().Metrics.Retries);
    }

    [Fact]
    public async Task SpentRetryBudget_StopsTheRetry_AndIsCounted()
    {
        await using var failing = await Unavailable();
        await using var healthy = await TestBackend.StartAsync("healthy", "127.0.0.3");
        var retry = Retry("503");
        retry.BudgetPercent = 0;
        retry.MinRetryConcurrency = 0;
        await using var proxy = await TestProxy.StartAsync(Options(retry, failing, healthy));

        var (id, response, body) = await SendUntilSeenByAsync(proxy, failing, HttpMethod.Get);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("unavailable", body);
        Assert.DoesNotContain(healthy.Requests, r => Tagged(r, id));
        var metrics = proxy.Cluster().Metrics;
        Assert.Equal(1, metrics.RetriesOverBudget); // only the request that reached the failing endpoint wanted a retry
        Assert.Equal(0, metrics.Retries);
        Assert.Equal(0, proxy.Cluster().RetryBudget.Active);
    }

    [Fact]
    public async Task RetryBudgetSlots_AreGivenBackWhenRequestsEnd()
    {
        await using var failing = await Unavailable();
        await using var healthy = await TestBackend.StartAsync("healthy", "127.0.0.3");
        var retry = Retry("503");
        retry.BudgetPercent = 0;
        retry.MinRetryConcurrency = 1; // one retry in flight at a time; sequential requests each get it
        await using var proxy = await TestProxy.StartAsync(Options(retry, failing, healthy));

        for (var i = 0; i < 3; i++)
        {
            var (_, response, _) = await SendUntilSeenByAsync(proxy, failing, HttpMethod.Get);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(3, proxy.Cluster().Metrics.Retries);
        Assert.Equal(0, proxy.Cluster().Metrics.RetriesOverBudget);
        Assert.Equal(0, proxy.Cluster().RetryBudget.Active);
    }

    [Fact]
    public async Task ARetryFindsTheLightEndpoint_WhenTheHeavyOneIsDead()
    {
        // Asked again, the algorithm would choose the dead endpoint 999 times in 1,000: the retry must go elsewhere.
        await using var light = await TestBackend.StartAsync("light", "127.0.0.3");
        var options = Options(retry: null);
        options.Clusters["web"].Endpoints.Add(new EndpointOptions { Address = Loopback.DeadEndpoint("127.0.0.9"), Weight = 1000 });
        options.Clusters["web"].Endpoints.Add(new EndpointOptions { Address = light.Address, Weight = 1 });
        options.Clusters["web"].OutlierDetection.Enabled = false; // keep the dead endpoint in the picker
        await using var proxy = await TestProxy.StartAsync(options);

        for (var i = 0; i < 20; i++)
        {
            using var response = await SendAsync(proxy, HttpMethod.Get, Guid.NewGuid().ToString("N"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("light", await response.Content.ReadAsStringAsync(Ct));
        }

        Assert.True(proxy.Cluster().Metrics.Errors(UpstreamError.Connect) >= 15, "the dead endpoint was rarely tried first");
    }

    [Fact]
    public async Task APolicyListingOnlyStatuses_StillRetriesConnectFailures()
    {
        await using var healthy = await TestBackend.StartAsync("healthy", "127.0.0.3");
        var options = Options(Retry("503"));
        options.Clusters["web"].Endpoints.Add(new EndpointOptions { Address = Loopback.DeadEndpoint("127.0.0.9") });
        options.Clusters["web"].Endpoints.Add(new EndpointOptions { Address = healthy.Address });
        await using var proxy = await TestProxy.StartAsync(options);
        var metrics = proxy.Cluster().Metrics;

        for (var i = 0; i < MaxTries && metrics.Errors(UpstreamError.Connect) == 0; i++)
        {
            using var response = await SendAsync(proxy, HttpMethod.Get, Guid.NewGuid().ToString("N"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.True(metrics.Errors(UpstreamError.Connect) >= 1, "no request tried the dead endpoint");
        Assert.Equal(metrics.Errors(UpstreamError.Connect), metrics.Retries);
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("POST")] // a connect failure never reached an upstream: even a request with a body goes again
    public async Task DefaultPolicy_RetriesConnectFailures(string method)
    {
        await using var healthy = await TestBackend.StartAsync("healthy", "127.0.0.3");
        var dead = Loopback.DeadEndpoint("127.0.0.9");
        var options = Options(retry: null);
        options.Clusters["web"].Endpoints.Add(new EndpointOptions { Address = dead });
        options.Clusters["web"].Endpoints.Add(new EndpointOptions { Address = healthy.Address });
        await using var proxy = await TestProxy.StartAsync(options);
        var metrics = proxy.Cluster().Metrics;

        for (var i = 0; i < MaxTries && metrics.Errors(UpstreamError.Connect) == 0; i++)
        {
            using var response = await SendAsync(proxy, new HttpMethod(method), Guid.NewGuid().ToString("N"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("healthy", await response.Content.ReadAsStringAsync(Ct));
        }

        Assert.True(metrics.Errors(UpstreamError.Connect) >= 1, "no request tried the dead endpoint");
        Assert.Equal(metrics.Errors(UpstreamError.Connect), metrics.Retries);
        if (method == "POST")
        {
            Assert.All(healthy.Requests, r => Assert.Equal("POST", r.Method));
        }
    }

    // ---- Timeouts ----------------------------------------------------------------------------------------------

    [Fact]
    public async Task RouteResponseHeaderTimeout_ShorterThanTheClusters_Answers504()
    {
        await using var hanging = await HangingBackend.StartAsync("127.0.0.4");
        var options = Options(retry: null);
        options.Clusters["web"].Endpoints.Add(new EndpointOptions { Address = hanging.Address });
        options.Clusters["web"].ResponseHeaderTimeout = TimeSpan.FromMinutes(5);
        options.Routes[0].Timeouts = new RouteTimeoutOptions { ResponseHeader = TimeSpan.FromMilliseconds(300) };
        await using var proxy = await TestProxy.StartAsync(options);

        // Bounded far below the cluster's five minutes: only the route's timeout can answer in time.
        using var response = await proxy.Client.GetAsync("/", Ct).WaitAsync(Bound, Ct);

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("upstream did not answer in time\n", await response.Content.ReadAsStringAsync(Ct));
        await hanging.Arrived;
        await hanging.Abandoned;
    }

    [Fact]
    public async Task RouteRequestTimeout_BoundsTheWholeExchange_RetriesIncluded()
    {
        await using var failing = await Unavailable();
        var hung = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var hanging = await TestBackend.StartAsync("hanging", "127.0.0.4", async context =>
        {
            var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var registration = context.RequestAborted.Register(() => aborted.TrySetResult());
            hung.TrySetResult();
            await aborted.Task;
        });
        var retry = Retry("503");
        var options = Options(retry, failing, hanging);
        options.Clusters["web"].ResponseHeaderTimeout = TimeSpan.FromMinutes(5);
        options.Routes[0].Timeouts = new RouteTimeoutOptions { Request = TimeSpan.FromMilliseconds(400) };
        await using var proxy = await TestProxy.StartAsync(options);

        // The request that reached the failing endpoint first was retried on the hanging one, whose wait the
        // request timeout cut short; any before it hung on the first attempt and got the same answer.
        var (id, response, body) = await SendUntilSeenByAsync(proxy, failing, HttpMethod.Get, expectEach: HttpStatusCode.GatewayTimeout);

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("the route's request timeout passed", body.TrimEnd('\n'));
        Assert.Single(hanging.Requests, r => Tagged(r, id));
        Assert.True(proxy.Cluster().Metrics.Retries >= 1);
    }

    private static RetryOptions Retry(params string[] on)
    {
        var retry = new RetryOptions();
        foreach (var condition in on)
        {
            retry.On.Add(condition);
        }

        return retry;
    }

    private static ProxyOptions Options(RetryOptions? retry, params TestBackend[] backends)
    {
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, [.. backends.Select(b => b.Address)]);
        options.Routes[0].Retry = retry;
        return options;
    }

    private static Task<TestBackend> Unavailable() =>
        TestBackend.StartAsync("failing", "127.0.0.2", context =>
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return context.Response.WriteAsync("unavailable");
        });

    private static bool Tagged(SeenRequest request, string id) =>
        request.Headers.TryGetValue("x-test-id", out var value) && value == id;

    private static async Task<HttpResponseMessage> SendAsync(TestProxy proxy, HttpMethod method, string id)
    {
        using var request = new HttpRequestMessage(method, "/");
        request.Headers.Add("x-test-id", id);
        if (method == HttpMethod.Post)
        {
            request.Content = new StringContent("payload");
        }

        return await proxy.Client.SendAsync(request, Ct).WaitAsync(Bound, Ct);
    }

    /// <summary>
    /// Sends tagged requests until one reaches <paramref name="target"/> first (the others must answer
    /// <paramref name="expectEach"/>, 200 by default); returns that request's tag, response and body.
    /// </summary>
    private static async Task<(string Id, HttpResponseMessage Response, string Body)> SendUntilSeenByAsync(
        TestProxy proxy, TestBackend target, HttpMethod method, HttpStatusCode expectEach = HttpStatusCode.OK)
    {
        for (var i = 0; i < MaxTries; i++)
        {
            var id = Guid.NewGuid().ToString("N");
            var response = await SendAsync(proxy, method, id);
            var body = await response.Content.ReadAsStringAsync(Ct);
            if (target.Requests.Any(r => Tagged(r, id)))
            {
                return (id, response, body);
            }

            Assert.Equal(expectEach, response.StatusCode);
            response.Dispose();
        }

        Assert.Fail($"none of {MaxTries} requests reached {target.Name}");
        return default;
    }
}
