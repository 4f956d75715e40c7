using System.Net;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Forwarding;

public sealed class ForwardingTests
{
    public static TheoryData<LoadBalancingAlgorithm> Algorithms => new(Enum.GetValues<LoadBalancingAlgorithm>());

    [Theory]
    [MemberData(nameof(Algorithms))]
    public async Task EveryAlgorithm_ForwardsToTheClusterEndpoints(LoadBalancingAlgorithm algorithm)
    {
        await using var a = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var b = await TestBackend.StartAsync("b", "127.0.0.3");
        await using var c = await TestBackend.StartAsync("c", "127.0.0.4");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(algorithm, a.Address, b.Address, c.Address));

        var answers = new List<string>();
        for (var i = 0; i < 60; i++)
        {
            answers.Add(await proxy.Client.GetStringAsync($"/item/{i}", TestContext.Current.CancellationToken));
        }

        Assert.All(answers, answer => Assert.Contains(answer, new[] { "a", "b", "c" }));
        Assert.True(answers.Distinct().Count() >= 2, $"{algorithm} sent all 60 requests to one backend: {answers[0]}");
        Assert.Equal(60, a.Requests.Count + b.Requests.Count + c.Requests.Count);
    }

    [Theory]
    [InlineData(LoadBalancingAlgorithm.Maglev, HashKeySource.Header, "X-User")]
    [InlineData(LoadBalancingAlgorithm.RingHash, HashKeySource.Header, "X-User")]
    [InlineData(LoadBalancingAlgorithm.Maglev, HashKeySource.Cookie, "session")]
    [InlineData(LoadBalancingAlgorithm.Maglev, HashKeySource.QueryParameter, "user")]
    [InlineData(LoadBalancingAlgorithm.RingHash, HashKeySource.Path, null)]
    public async Task HashBalancing_SameKeySameBackend_DifferentKeysSpread(LoadBalancingAlgorithm algorithm, HashKeySource source, string? name)
    {
        await using var a = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var b = await TestBackend.StartAsync("b", "127.0.0.3");
        await using var c = await TestBackend.StartAsync("c", "127.0.0.4");
        var options = TestProxy.Options(algorithm, a.Address, b.Address, c.Address);
        options.Clusters["web"].HashKey = new HashKeyOptions { Source = source, Name = name };
        await using var proxy = await TestProxy.StartAsync(options);

        async Task<string> Get(string key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, source switch
            {
                HashKeySource.QueryParameter => $"/?other=1&user={key}",
                HashKeySource.Path => $"/users/{key}",
                _ => "/",
            });
            if (source == HashKeySource.Header)
            {
                request.Headers.Add("X-User", key);
            }
            else if (source == HashKeySource.Cookie)
            {
                request.Headers.Add("Cookie", $"theme=dark; session={key}");
            }

            using var response = await proxy.Client.SendAsync(request, TestContext.Current.CancellationToken);
            return await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        }

        var owners = new Dictionary<string, string>();
        for (var key = 0; key < 30; key++)
        {
            owners[$"user-{key}"] = await Get($"user-{key}");
        }

        for (var round = 0; round < 3; round++)
        {
            foreach (var (key, owner) in owners)
            {
                Assert.Equal(owner, await Get(key));
            }
        }

        Assert.True(owners.Values.Distinct().Count() >= 2, "30 different keys all landed on one backend");
    }

    [Fact]
    public async Task HashBalancing_ClientIp_KeepsAClientOnOneBackend()
    {
        await using var a = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var b = await TestBackend.StartAsync("b", "127.0.0.3");
        var options = TestProxy.Options(LoadBalancingAlgorithm.Maglev, a.Address, b.Address);
        options.Clusters["web"].HashKey = new HashKeyOptions { Source = HashKeySource.ClientIp };
        await using var proxy = await TestProxy.StartAsync(options);

        var answers = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            using var client = proxy.NewClient(); // a new connection each time, same client address
            answers.Add(await client.GetStringAsync("/", TestContext.Current.CancellationToken));
        }

        Assert.Single(answers);
    }

    [Fact]
    public async Task KeepAlive_ReusesOneUpstreamConnection()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));

        for (var i = 0; i < 25; i++)
        {
            Assert.Equal("a", await proxy.Client.GetStringAsync("/", TestContext.Current.CancellationToken));
        }

        Assert.Equal(25, backend.Requests.Count);
        Assert.Single(backend.ConnectionIds);
        Assert.Equal(1, proxy.Cluster().Metrics.ConnectionsOpened);
        Assert.Equal(24, proxy.Cluster().Metrics.ConnectionsReused);
    }

    [Fact]
    public async Task Headers_HopByHopRemoved_ForwardedAdded_HostKept()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));

        using var request = new HttpRequestMessage(HttpMethod.Get, "/path/x?q=1%202");
        request.Headers.Host = "shop.example.com";
        request.Headers.Add("Connection", "X-Secret");
        request.Headers.Add("X-Secret", "hop-only");
        request.Headers.Add("Keep-Alive", "timeout=5");
        request.Headers.Add("Proxy-Connection", "keep-alive");
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        request.Headers.Add("X-Custom", ["one", "two"]);
        using var response = await proxy.Client.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var seen = Assert.Single(backend.Requests);
        Assert.Equal("/path/x?q=1%202", seen.Target);
        Assert.Equal("HTTP/1.1", seen.Protocol);
        Assert.Equal("shop.example.com", seen.Headers["Host"]);
        Assert.False(seen.Headers.ContainsKey("X-Secret"), "a header named in Connection reached the upstream");
        Assert.False(seen.Headers.ContainsKey("Keep-Alive"));
        Assert.False(seen.Headers.ContainsKey("Proxy-Connection"));
        Assert.Equal("127.0.0.1", seen.Headers["X-Forwarded-For"]); // a client's own is not believed (TrustForwardedHeaders off)
        Assert.Equal("http", seen.Headers["X-Forwarded-Proto"]);
        Assert.Equal("shop.example.com", seen.Headers["X-Forwarded-Host"]);
        Assert.Equal("one,two", seen.Headers["X-Custom"].Replace(" ", "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Headers_PreserveHostOff_SendsTheEndpointAddress()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        options.Clusters["web"].PreserveHost = false;
        await using var proxy = await TestProxy.StartAsync(options);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Host = "shop.example.com";
        (await proxy.Client.SendAsync(request, TestContext.Current.CancellationToken)).Dispose();

        var seen = Assert.Single(backend.Requests);
        Assert.Equal(backend.Address, seen.Headers["Host"]);
        Assert.Equal("shop.example.com", seen.Headers["X-Forwarded-Host"]);
    }

    [Fact]
    public async Task Responses_StatusHeadersAndBody_PassThrough()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2", async context =>
        {
            context.Response.StatusCode = StatusCodes.Status418ImATeapot;
            context.Response.Headers["X-From"] = "backend";
            context.Response.Headers.Append("Set-Cookie", "a=1");
            context.Response.Headers.Append("Set-Cookie", "b=2");
            context.Response.ContentLength = 5;
            await context.Response.WriteAsync("short");
        });
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));

        using var response = await proxy.Client.GetAsync("/", TestContext.Current.CancellationToken);

        Assert.Equal((HttpStatusCode)418, response.StatusCode);
        Assert.Equal("backend", response.Headers.GetValues("X-From").Single());
        Assert.Equal(["a=1", "b=2"], response.Headers.GetValues("Set-Cookie"));
        Assert.Equal(5, response.Content.Headers.ContentLength);
        Assert.Equal("short", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Head_And_204_And_304_HaveNoBody_AndKeepTheConnection()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2", async context =>
        {
            switch (context.Request.Path.Value)
            {
                case "/204":
                    context.Response.StatusCode = 204;
                    break;
                case "/304":
                    context.Response.StatusCode = 304;
                    break;
                default:
                    context.Response.ContentLength = 11;
                    if (!HttpMethods.IsHead(context.Request.Method))
                    {
                        await context.Response.WriteAsync("hello world");
                    }

                    break;
            }
        });
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        using (var head = await proxy.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/"), ct))
        {
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(11, head.Content.Headers.ContentLength);
        }

        Assert.Equal(HttpStatusCode.NoContent, (await proxy.Client.GetAsync("/204", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotModified, (await proxy.Client.GetAsync("/304", ct)).StatusCode);
        Assert.Equal("hello world", await proxy.Client.GetStringAsync("/", ct));
        Assert.Single(backend.ConnectionIds);
    }
}
