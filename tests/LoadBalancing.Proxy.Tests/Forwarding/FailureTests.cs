using System.Net;
using System.Net.Sockets;
using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Proxy.Tests.Forwarding;

public sealed class FailureTests
{
    [Fact]
    public async Task UpstreamDown_RetriedOnAnotherEndpoint_NoRequestFails()
    {
        await using var live = await TestBackend.StartAsync("live", "127.0.0.2");
        var dead = Loopback.DeadEndpoint("127.0.0.3");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, dead, live.Address);
        options.Clusters["web"].OutlierDetection.Enabled = false; // keep the dead endpoint in rotation
        await using var proxy = await TestProxy.StartAsync(options);

        for (var i = 0; i < 10; i++)
        {
            using var response = await proxy.Client.GetAsync("/", TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // Every failed connect was retried on the live endpoint; which requests hit the dead one first is round-robin's business.
        var metrics = proxy.Cluster().Metrics;
        Assert.Equal(10, live.Requests.Count);
        Assert.InRange(metrics.Retries, 1, 10);
        Assert.Equal(metrics.Retries, metrics.Errors(UpstreamError.Connect));
    }

    [Fact]
    public async Task UpstreamDown_IsEjected_ThenNotTriedAgain()
    {
        await using var live = await TestBackend.StartAsync("live", "127.0.0.2");
        var dead = Loopback.DeadEndpoint("127.0.0.3");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, dead, live.Address);
        options.Clusters["web"].OutlierDetection.ConsecutiveFailures = 2;
        await using var proxy = await TestProxy.StartAsync(options);

        for (var i = 0; i < 20; i++)
        {
            (await proxy.Client.GetAsync("/", TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        }

        Assert.Equal(2, proxy.Cluster().Metrics.Errors(UpstreamError.Connect));
        Assert.Equal(1, proxy.Cluster().Balancer.Status.EjectedEndpoints);
    }

    [Fact]
    public async Task AllDown_Answers503_WithAShortBody()
    {
        var options = TestProxy.Options(LoadBalancingAlgorithm.LeastRequest, Loopback.DeadEndpoint("127.0.0.2"), Loopback.DeadEndpoint("127.0.0.3"));
        await using var proxy = await TestProxy.StartAsync(options);

        using var response = await proxy.Client.GetAsync("/", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("upstream connect failed\n", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(1, proxy.Cluster().Metrics.Retries);
    }

    [Fact]
    public async Task NonIdempotentRequest_ThatReachedTheUpstream_IsNotRetried()
    {
        // The first endpoint accepts the request and drops the connection without answering.
        await using var dropper = new RawUpstream(_ => [], "127.0.0.2");
        await using var live = await TestBackend.StartAsync("live", "127.0.0.3");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, dropper.Address, live.Address);
        options.Clusters["web"].OutlierDetection.Enabled = false;
        await using var proxy = await TestProxy.StartAsync(options);
        var ct = TestContext.Current.CancellationToken;

        // Round-robin cursors are per thread, so which request lands where is not fixed: post until one
        // has reached the dropper, then a few more.
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 50 && (DroppedHeads(dropper, "POST") == 0 || statuses.Count < 6); i++)
        {
            using var response = await proxy.Client.PostAsync("/", new StringContent("pay once"), ct);
            statuses.Add(response.StatusCode);
        }

        // Every POST the dropper saw failed once, as a 502, and was never sent on to the live backend.
        var dropped = DroppedHeads(dropper, "POST");
        Assert.InRange(dropped, 1, statuses.Count);
        Assert.Equal(dropped, statuses.Count(s => s == HttpStatusCode.BadGateway));
        Assert.Equal(statuses.Count - dropped, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(statuses.Count - dropped, live.Requests.Count);
        Assert.Equal(0, proxy.Cluster().Metrics.Retries);

        // The same failure on a GET without a body is retried elsewhere: each one the dropper saw.
        for (var i = 0; i < 50 && (DroppedHeads(dropper, "GET") == 0 || i < 6); i++)
        {
            (await proxy.Client.GetAsync("/", ct)).EnsureSuccessStatusCode();
        }

        Assert.InRange(DroppedHeads(dropper, "GET"), 1, int.MaxValue);
        Assert.Equal(DroppedHeads(dropper, "GET"), proxy.Cluster().Metrics.Retries);
    }

    private static int DroppedHeads(RawUpstream dropper, string method)
    {
        lock (dropper.Heads)
        {
            return dropper.Heads.Count(h => h.StartsWith(method + " ", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task SlowUpstream_Answers504_AfterTheResponseHeaderTimeout()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var slow = await HangingBackend.StartAsync("127.0.0.2");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, slow.Address);
        options.Clusters["web"].ResponseHeaderTimeout = TimeSpan.FromSeconds(5);
        await using var proxy = await TestProxy.StartAsync(options, time);

        var pending = proxy.Client.GetAsync("/", TestContext.Current.CancellationToken);
        await slow.Arrived;
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.False(pending.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(2));
        using var response = await pending;

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("upstream did not answer in time\n", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        await slow.Abandoned;
        Assert.Equal(1, proxy.Cluster().Metrics.Errors(UpstreamError.Timeout));
    }

    [Fact]
    public async Task ClientDisconnect_CancelsTheUpstreamRequest()
    {
        await using var slow = await HangingBackend.StartAsync("127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, slow.Address));

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        using var client = proxy.NewClient();
        var pending = client.GetAsync("/", cts.Token);
        await slow.Arrived;
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);

        // The proxy releases the pick and closes the upstream connection before the backend can see the abort.
        await slow.Abandoned;
        var cluster = proxy.Cluster();
        Assert.Equal(0, cluster.Metrics.ConnectionsOpen);
        Assert.Equal(0, cluster.Source.Current.States[0].InFlight);
    }

    [Fact]
    public async Task NoUsableEndpoint_UsesTheFallbackAddress()
    {
        await using var fallback = await TestBackend.StartAsync("cluster-ip", "127.0.0.9");
        var source = new EndpointSource("web");
        source.Publish([new BackendEndpoint("127.0.0.2", 80, conditions: EndpointConditions.None)]);
        var options = TestProxy.Options(LoadBalancingAlgorithm.PeakEwma, "127.0.0.2:80");
        options.Clusters["web"].Fallback = fallback.Address;
        await using var proxy = await TestProxy.StartAsync(options, configure: p => p.UseEndpointSource("web", source, stalenessBound: null));

        Assert.Equal("cluster-ip", await proxy.Client.GetStringAsync("/", TestContext.Current.CancellationToken));
        Assert.Equal(1, proxy.Cluster().Metrics.FallbackRequests);
    }

    [Fact]
    public async Task EveryEndpointDead_TheFallbackIsTheLastResort()
    {
        // The list is stale: every pod it names is gone, but the Service's ClusterIP still works.
        await using var clusterIp = await TestBackend.StartAsync("cluster-ip", "127.0.0.9");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, Loopback.DeadEndpoint("127.0.0.2"), Loopback.DeadEndpoint("127.0.0.3"), Loopback.DeadEndpoint("127.0.0.4"));
        options.Clusters["web"].Fallback = clusterIp.Address;
        await using var proxy = await TestProxy.StartAsync(options);

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("cluster-ip", await proxy.Client.GetStringAsync("/", TestContext.Current.CancellationToken));
        }

        Assert.Equal(5, proxy.Cluster().Metrics.FallbackRequests);

        // A POST may go there too: failed connects never reached an upstream, so nothing could have been done twice.
        using var post = await proxy.Client.PostAsync("/", new StringContent("x"), TestContext.Current.CancellationToken);
        Assert.Equal("cluster-ip", await post.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task ServerErrors_CountAsFailures_ForOutlierDetection()
    {
        await using var broken = await TestBackend.StartAsync("broken", "127.0.0.2", context =>
        {
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return Task.CompletedTask;
        });
        await using var good = await TestBackend.StartAsync("good", "127.0.0.3");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, broken.Address, good.Address);
        options.Clusters["web"].OutlierDetection.ConsecutiveFailures = 3;
        await using var proxy = await TestProxy.StartAsync(options);

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 20; i++)
        {
            statuses.Add((await proxy.Client.GetAsync("/", TestContext.Current.CancellationToken)).StatusCode);
        }

        // A 500 is the upstream's answer: passed on, not retried, and counted towards ejection.
        Assert.Equal(3, statuses.Count(s => s == HttpStatusCode.InternalServerError));
        Assert.Equal(1, proxy.Cluster().Balancer.Status.EjectedEndpoints);
    }

    [Fact]
    public async Task StalledResponseBody_AbortsAfterTheIdleTimeout()
    {
        // The upstream sends the head and part of the body, then goes silent with the connection open.
        await using var stalled = new RawUpstream("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart", "127.0.0.2", closeAfterResponse: false);
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, stalled.Address);
        options.Clusters["web"].IdleTimeout = TimeSpan.FromMilliseconds(300);
        await using var proxy = await TestProxy.StartAsync(options);

        using var response = await proxy.Client.GetAsync("/", HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(1, proxy.Cluster().Metrics.Errors(UpstreamError.Timeout));
        Assert.Equal(0, proxy.Cluster().Metrics.ConnectionsOpen);
    }

    [Fact]
    public async Task HashClusterWithoutTheKey_BalancesAtRandom()
    {
        await using var a = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var b = await TestBackend.StartAsync("b", "127.0.0.3");
        var options = TestProxy.Options(LoadBalancingAlgorithm.Maglev, a.Address, b.Address);
        options.Clusters["web"].HashKey = new HashKeyOptions { Source = HashKeySource.Header, Name = "X-User" };
        await using var proxy = await TestProxy.StartAsync(options);

        var answers = new HashSet<string>();
        for (var i = 0; i < 40 && answers.Count < 2; i++)
        {
            answers.Add(await proxy.Client.GetStringAsync("/", TestContext.Current.CancellationToken));
        }

        // 40 keyless requests all on one of two backends would happen with probability 2^-39.
        Assert.Equal(2, answers.Count);
    }

    [Fact]
    public async Task ConnectThatHangs_Is504_AfterTheConnectTimeout()
    {
        // A listener that never accepts, with its queue already full: the kernel drops further SYNs,
        // so a connect to it hangs (as to a pod IP that went away without a reset).
        using var full = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        full.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        full.Listen(0);
        var endpoint = (IPEndPoint)full.LocalEndPoint!;
        var fillers = new List<Socket>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(filler);
                _ = filler.ConnectAsync(endpoint, TestContext.Current.CancellationToken).AsTask();
            }

            var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, $"127.0.0.2:{endpoint.Port}");
            options.Clusters["web"].ConnectTimeout = TimeSpan.FromMilliseconds(300);
            options.Clusters["web"].MaxAttempts = 1;
            await using var proxy = await TestProxy.StartAsync(options);

            using var response = await proxy.Client.GetAsync("/", TestContext.Current.CancellationToken);

            Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
            Assert.Equal("upstream connect timed out\n", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
            Assert.Equal(1, proxy.Cluster().Metrics.Errors(UpstreamError.Connect));
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    }
}
