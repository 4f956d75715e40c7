using System.Globalization;
using System.Net;
using System.Text.Json;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Forwarding;

/// <summary>
/// A cluster's <c>SessionAffinity</c>, over real backends: the first response names the endpoint that served it in a
/// cookie, the client's later requests go back there, and a session whose endpoint is gone or failing moves to another
/// that the next response names.
/// </summary>
public sealed class SessionAffinityTests
{
    [Theory(Timeout = 30_000)]
    [InlineData(UpstreamProtocol.Http1)]
    [InlineData(UpstreamProtocol.Http2)]
    public async Task TheFirstResponseNamesItsEndpoint_AndTheSessionStaysThere(UpstreamProtocol protocol)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backends = await Backends.StartAsync("127.0.0.81", protocol);
        var options = backends.Options();
        options.Clusters["web"].Protocol = protocol;
        await using var proxy = await TestProxy.StartAsync(options);
        using var client = proxy.NewClient();

        // Without the cookie, round-robin spreads requests over the backends, each response naming its own.
        var first = new List<(string Backend, string Cookie)>();
        for (var i = 0; i < 9; i++)
        {
            first.Add(await GetAsync(client, cookie: null, ct));
        }

        Assert.True(first.Select(r => r.Backend).Distinct().Count() > 1, "round-robin sent nine requests to one backend");
        foreach (var (backend, cookie) in first)
        {
            Assert.Equal($"lb-affinity={KeyOf(backends[backend].Address)}; path=/; samesite=lax; httponly", cookie);
        }

        // With it, every request goes to the endpoint it names, and no response sets it again.
        var (chosen, setCookie) = first[1];
        var value = setCookie[..setCookie.IndexOf(';', StringComparison.Ordinal)];
        for (var i = 0; i < 12; i++)
        {
            Assert.Equal((chosen, ""), await GetAsync(client, "theme=dark; " + value, ct));
        }

        Assert.Equal(first.Count(r => r.Backend == chosen) + 12, backends[chosen].Requests.Count);
        Assert.Equal(0, proxy.Cluster().Metrics.SessionsMoved);
    }

    [Fact(Timeout = 30_000)]
    public async Task ASessionWhoseEndpointLeft_MovesToAnother_WhichTheResponseNames_AndIsCounted()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backends = await Backends.StartAsync("127.0.0.82", UpstreamProtocol.Http1);
        var options = backends.Options();
        await using var proxy = await TestProxy.StartAsync(options);
        using var client = proxy.NewClient();
        var leaving = backends.All[0];
        var cookie = "lb-affinity=" + KeyOf(leaving.Address);
        Assert.Equal((leaving.Name, ""), await GetAsync(client, cookie, ct));

        Assert.Equal(ReloadOutcome.Applied, proxy.Runtime.Reload(backends.Options(without: leaving), [], "test").Outcome);

        var (moved, setCookie) = await GetAsync(client, cookie, ct);
        Assert.NotEqual(leaving.Name, moved);
        Assert.StartsWith($"lb-affinity={KeyOf(backends[moved].Address)};", setCookie, StringComparison.Ordinal);
        Assert.Equal(1, proxy.Cluster().Metrics.SessionsMoved);
        var metrics = await proxy.Admin.GetStringAsync("/metrics", ct);
        Assert.Contains("lb_proxy_session_affinity_moved_total{cluster=\"web\"} 1\n", metrics, StringComparison.Ordinal);

        // The new cookie holds: the session stays on its new endpoint.
        var renewed = setCookie[..setCookie.IndexOf(';', StringComparison.Ordinal)];
        for (var i = 0; i < 6; i++)
        {
            Assert.Equal((moved, ""), await GetAsync(client, renewed, ct));
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task AnEndpointRefusingConnections_LosesTheSessionToTheEndpointThatAnswers()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var live = await TestBackend.StartAsync("live", "127.0.0.83");
        var dead = Loopback.DeadEndpoint("127.0.0.84");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, dead, live.Address);
        options.Clusters["web"].SessionAffinity = new SessionAffinityOptions();
        await using var proxy = await TestProxy.StartAsync(options);
        using var client = proxy.NewClient();

        // The dead endpoint is still in the balancer's set: the session's first try goes to it, the retry to the live one.
        var (backend, setCookie) = await GetAsync(client, "lb-affinity=" + KeyOf(dead), ct);

        Assert.Equal("live", backend);
        Assert.StartsWith($"lb-affinity={KeyOf(live.Address)};", setCookie, StringComparison.Ordinal);
        Assert.Equal(1, proxy.Cluster().Metrics.Retries);
    }

    [Fact(Timeout = 30_000)]
    public async Task AValueThatIsNotOurs_IsBalancedAndReplaced_AndTheUpstreamsOwnCookiesStay()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backend = await TestBackend.StartAsync("app", "127.0.0.85", context =>
        {
            context.Response.Headers.SetCookie = "app-session=s1; path=/";
            return context.Response.WriteAsync("app");
        });
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        options.Clusters["web"].SessionAffinity = new SessionAffinityOptions();
        await using var proxy = await TestProxy.StartAsync(options);
        using var client = proxy.NewClient();

        foreach (var garbage in new[] { "lb-affinity=not-a-key", "lb-affinity=\"00\"", "lb-affinity=" + new string('g', 16), "lb-affinity=" + KeyOf("10.9.9.9:80") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/");
            request.Headers.Add("Cookie", garbage);
            using var response = await client.SendAsync(request, ct);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(["app-session=s1; path=/", $"lb-affinity={KeyOf(backend.Address)}; path=/; samesite=lax; httponly"], response.Headers.GetValues("Set-Cookie"));
        }

        // The cookie reaches the upstream as the client sent it: the proxy reads it and leaves it.
        Assert.Equal("lb-affinity=not-a-key", backend.Requests.First().Headers["Cookie"]);
    }

    [Fact(Timeout = 30_000)]
    public async Task TheCookiesAttributes_FollowTheOptions_AndReloadInPlace()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backend = await TestBackend.StartAsync("app", "127.0.0.86");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        using var client = proxy.NewClient();
        var cluster = proxy.Cluster();
        Assert.Equal(("app", ""), await GetAsync(client, cookie: null, ct));

        var options = TestTransport.Apply(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        options.Clusters["web"].SessionAffinity = new SessionAffinityOptions
        {
            CookieName = "route",
            Path = "/app",
            Domain = "example.test",
            MaxAge = TimeSpan.FromHours(1),
            Secure = Microsoft.AspNetCore.Http.CookieSecurePolicy.Always,
            SameSite = Microsoft.AspNetCore.Http.SameSiteMode.Strict,
            HttpOnly = false,
        };
        Assert.Equal(ReloadOutcome.Applied, proxy.Runtime.Reload(options, [], "test").Outcome);

        Assert.Same(cluster, proxy.Cluster());
        Assert.Equal(("app", $"route={KeyOf(backend.Address)}; path=/app; domain=example.test; max-age=3600; secure; samesite=strict"), await GetAsync(client, cookie: null, ct));
        using var backends = JsonDocument.Parse(await proxy.Admin.GetStringAsync("/backends", ct));
        var view = backends.RootElement.GetProperty("clusters").EnumerateArray().Single();
        Assert.Equal("route", view.GetProperty("sessionAffinity").GetProperty("cookie").GetString());
        Assert.Equal(KeyOf(backend.Address), view.GetProperty("endpoints")[0].GetProperty("affinityKey").GetString());

        var off = TestTransport.Apply(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        off.Clusters["web"].SessionAffinity = new SessionAffinityOptions { Enabled = false };
        Assert.Equal(ReloadOutcome.Applied, proxy.Runtime.Reload(off, [], "test").Outcome);
        Assert.Same(cluster, proxy.Cluster());
        Assert.Equal(("app", ""), await GetAsync(client, cookie: null, ct));
    }

    [Fact(Timeout = 30_000)]
    public async Task ANegotiateThenWebSocket_AsSignalRDoes_ReachesOneBackend()
    {
        var ct = TestContext.Current.CancellationToken;
        var backends = new List<TestBackend>();
        try
        {
            // Each backend says its name: in the body of a plain request, as the first message of a WebSocket.
            foreach (var name in new[] { "a", "b", "c" })
            {
                backends.Add(await TestBackend.StartAsync(name, "127.0.0.87", async context =>
                {
                    if (!context.WebSockets.IsWebSocketRequest)
                    {
                        await context.Response.WriteAsync(name);
                        return;
                    }

                    using var socket = await context.WebSockets.AcceptWebSocketAsync();
                    await socket.SendAsync(System.Text.Encoding.UTF8.GetBytes(name), System.Net.WebSockets.WebSocketMessageType.Text, true, context.RequestAborted);
                    await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "bye", context.RequestAborted);
                }, app => app.UseWebSockets()));
            }

            var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, [.. backends.Select(b => b.Address)]);
            options.Clusters["web"].SessionAffinity = new SessionAffinityOptions();
            await using var proxy = await TestProxy.StartAsync(options);
            using var client = proxy.NewClient();

            var (negotiated, setCookie) = await GetAsync(client, cookie: null, ct);
            var cookie = setCookie[..setCookie.IndexOf(';', StringComparison.Ordinal)];
            for (var i = 0; i < 6; i++)
            {
                using var socket = new System.Net.WebSockets.ClientWebSocket();
                socket.Options.SetRequestHeader("Cookie", cookie);
                await socket.ConnectAsync(new Uri($"ws://{proxy.ProxyEndPoint}/hub"), ct);
                var buffer = new byte[64];
                var received = await socket.ReceiveAsync(buffer, ct);
                Assert.Equal(negotiated, System.Text.Encoding.UTF8.GetString(buffer, 0, received.Count));
                await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "done", ct);
            }
        }
        finally
        {
            foreach (var backend in backends)
            {
                await backend.DisposeAsync();
            }
        }
    }

    /// <summary>The cookie value naming an endpoint: its affinity key (xxHash64 of "ip:port") in 16 hex digits.</summary>
    private static string KeyOf(string address) => RequestKey.FromString(address).ToString("x16", CultureInfo.InvariantCulture);

    /// <summary>One GET with an optional Cookie header: which backend answered, and the Set-Cookie it came back with ("" for none).</summary>
    private static async Task<(string Backend, string SetCookie)> GetAsync(HttpClient client, string? cookie, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", cookie);
        }

        using var response = await client.SendAsync(request, ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var setCookie = response.Headers.TryGetValues("Set-Cookie", out var values) ? string.Join("\n", values) : "";
        return (await response.Content.ReadAsStringAsync(ct), setCookie);
    }

    /// <summary>Three backends named a, b and c on one loopback address, and a round-robin cluster over them with affinity on.</summary>
    private sealed class Backends : IAsyncDisposable
    {
        private Backends(TestBackend[] all) => All = all;

        public TestBackend[] All { get; }

        public TestBackend this[string name] => All.Single(b => b.Name == name);

        public static async Task<Backends> StartAsync(string ip, UpstreamProtocol protocol)
        {
            var protocols = protocol == UpstreamProtocol.Http2 ? Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2 : (Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols?)null;
            return new Backends(await Task.WhenAll(new[] { "a", "b", "c" }.Select(name => TestBackend.StartAsync(name, ip, protocols: protocols))));
        }

        /// <summary>Fresh options each time (a reload needs an object of its own), without one backend if asked.</summary>
        public ProxyOptions Options(TestBackend? without = null)
        {
            var options = TestTransport.Apply(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, [.. All.Where(b => b != without).Select(b => b.Address)]));
            options.Clusters["web"].SessionAffinity = new SessionAffinityOptions();
            return options;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var backend in All)
            {
                await backend.DisposeAsync();
            }
        }
    }
}
