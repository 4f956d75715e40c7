using System.Net;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Routing;

/// <summary>
/// What a matched route does, end to end: rewrites and header changes as the real backend received them, redirects
/// and direct responses as the client received them (and that the backend saw nothing), and weighted splits.
/// </summary>
public sealed class RouteActionsTests(RouteActionsTests.Fixture fixture) : IClassFixture<RouteActionsTests.Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // ---- Rewrites ----------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("/static/css/site.css?v=3", "/css/site.css?v=3")] // "/static" -> "/" strips the prefix, keeps the query
    [InlineData("/static", "/")]
    [InlineData("/static/", "/")]
    [InlineData("/static?x=1", "/?x=1")]
    [InlineData("/v1/users?id=7", "/v2/users?id=7")] // "/v1" -> "/v2"
    [InlineData("/v1", "/v2")]
    [InlineData("/v1/", "/v2/")]
    [InlineData("/v1/a%20b", "/v2/a%20b")] // the client's escaping is kept
    [InlineData("/v1x", "/v1x")] // not the "/v1" route (segment boundary): the catch-all, unrewritten
    [InlineData("/full/anything/else?q=1&r=2", "/replaced?q=1&r=2")] // ReplaceFullPath keeps the query too
    [InlineData("/full", "/replaced")]
    [InlineData("/st%61tic/x", "/x")] // an escaped prefix (matched decoded) is still the part replaced
    [InlineData("/caf%C3%A9/item?x=1", "/menu/item?x=1")] // a non-ASCII prefix, sent escaped as it must be
    [InlineData("/caf%c3%a9/item", "/menu/item")]
    public async Task Rewrite_Path_IsWhatTheBackendReceives(string target, string expected)
    {
        var seen = await fixture.ForwardAsync(target);

        Assert.Equal(expected, seen.Target);
    }

    [Theory]
    [InlineData("/v1/../../v1/users?q=1", "/v2/users?q=1")] // the route saw "/v1/users"; so must the rewrite
    [InlineData("/v1/./users", "/v2/users")]
    [InlineData("/v1/%2E%2E/%2e%2e/v1/x", "/v2/x")]
    public async Task Rewrite_PrefixOfAPathWithDotSegments_IsReplacedInThePathTheRouteMatched(string target, string expected)
    {
        // Sent raw: HttpClient would remove the dot segments itself. Kestrel removes them before routing, but the
        // raw target keeps them; rewritten naively, "/v1/../../v1/users" becomes "/v2/../../v1/users", which the
        // backend resolves to "/v1/users", outside the rewrite's "/v2".
        var id = Guid.NewGuid().ToString("N");
        var answer = await fixture.Proxy.SendRawAsync($"GET {target} HTTP/1.1\r\nHost: proxy.test\r\nx-test-id: {id}\r\nConnection: close\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        var seen = Assert.Single(fixture.Backend.Requests, r => r.Headers.TryGetValue("x-test-id", out var v) && v == id);
        Assert.Equal(expected, seen.Target);
    }

    [Fact]
    public async Task Rewrite_Hostname_IsTheHostTheBackendReceives()
    {
        var seen = await fixture.ForwardAsync("/host-rewrite/x", host: "public.test");

        Assert.Equal("internal.svc", seen.Headers["Host"]);
        Assert.Equal("public.test", seen.Headers["X-Forwarded-Host"]);
        Assert.Equal("/host-rewrite/x", seen.Target);
    }

    [Fact]
    public async Task NoRewrite_ThePreservedClientHostReachesTheBackend()
    {
        var seen = await fixture.ForwardAsync("/plain", host: "public.test");

        Assert.Equal("public.test", seen.Headers["Host"]);
        Assert.Equal("/plain", seen.Target);
    }

    // ---- Header modifiers --------------------------------------------------------------------------------------

    [Fact]
    public async Task RequestHeaders_SetAddRemove_AreWhatTheBackendReceives()
    {
        var seen = await fixture.ForwardAsync("/reqh", headers: new()
        {
            ["x-set"] = "from-client",
            ["x-add"] = "one",
            ["x-remove"] = "secret",
            ["X-REMOVE-CASE"] = "secret",
            ["x-both"] = "from-client",
            ["x-untouched"] = "kept",
        });

        Assert.Equal("from-route", seen.Headers["x-set"]); // replaced, not appended
        Assert.Equal("one,two", seen.Headers["x-add"]); // appended to the client's value
        Assert.Equal("fresh", seen.Headers["x-add-new"]); // added when absent
        Assert.Equal("route-set", seen.Headers["x-set-new"]);
        Assert.False(seen.Headers.ContainsKey("x-remove"));
        Assert.False(seen.Headers.ContainsKey("x-remove-case")); // removed whatever the case
        Assert.Equal("added", seen.Headers["x-both"]); // remove runs before add
        Assert.Equal("kept", seen.Headers["x-untouched"]);
    }

    [Fact]
    public async Task RequestHeaders_OnlyApplyToTheirRoute()
    {
        var seen = await fixture.ForwardAsync("/plain", headers: new() { ["x-remove"] = "secret" });

        Assert.Equal("secret", seen.Headers["x-remove"]);
        Assert.False(seen.Headers.ContainsKey("x-set"));
        Assert.False(seen.Headers.ContainsKey("x-add-new"));
    }

    [Fact]
    public async Task ResponseHeaders_SetAddRemove_AreWhatTheClientReceives()
    {
        using var response = await fixture.SendAsync("/resph");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["replaced"], response.Headers.GetValues("x-upstream-set"));
        Assert.False(response.Headers.Contains("x-upstream-remove"));
        Assert.Equal(["one", "two"], response.Headers.GetValues("x-upstream-add"));
        Assert.Equal(["fresh"], response.Headers.GetValues("x-new"));
        Assert.Equal("b", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task ResponseHeaders_OfAnotherRoute_LeaveTheUpstreamsHeadersAlone()
    {
        using var response = await fixture.SendAsync("/plain-resph");

        Assert.Equal(["original"], response.Headers.GetValues("x-upstream-set"));
        Assert.Equal(["secret"], response.Headers.GetValues("x-upstream-remove"));
        Assert.Equal(["one"], response.Headers.GetValues("x-upstream-add"));
        Assert.False(response.Headers.Contains("x-new"));
    }

    // ---- Redirects ---------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("shop.test:8080", "/to-https/x?q=1", 302, "https://shop.test/to-https/x?q=1")] // scheme change: its default port, dropped
    [InlineData("shop.test", "/to-https", 302, "https://shop.test/to-https")]
    [InlineData("old.test", "/to-host?a=b", 301, "http://new.example.com/to-host?a=b")]
    [InlineData("old.test:8080", "/to-host", 301, "http://new.example.com:8080/to-host")] // same scheme: the client's port kept
    [InlineData("h.test", "/to-port", 302, "https://h.test:8443/to-port")]
    [InlineData("h.test:8080", "/to-port80", 302, "http://h.test/to-port80")] // port 80 on http is the default: not written
    [InlineData("h.test", "/old/page?x=1", 308, "http://h.test/new/page?x=1")] // ReplacePrefixMatch
    [InlineData("h.test", "/old", 308, "http://h.test/new")]
    [InlineData("h.test", "/%C3%BCber/x?y", 301, "http://h.test/about/x?y")] // a non-ASCII prefix, sent escaped
    [InlineData("h.test", "/moved/a/b?k=v", 303, "http://h.test/landing?k=v")] // ReplaceFullPath, query kept
    [InlineData("h.test", "/r307?x", 307, "http://h.test/r307?x")]
    public async Task Redirect_AnswersWithTheLocation_AndTheBackendSeesNothing(string host, string target, int status, string location)
    {
        var id = Guid.NewGuid().ToString("N");
        using var response = await fixture.SendAsync(target, host, new() { ["x-test-id"] = id });

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(location, response.Headers.Location?.OriginalString);
        Assert.Equal(0, response.Content.Headers.ContentLength);
        Assert.Equal(["redirect"], response.Headers.GetValues("x-answered-by")); // the route's ResponseHeaders apply
        Assert.DoesNotContain(fixture.Backend.Requests, r => r.Headers.TryGetValue("x-test-id", out var v) && v == id);
    }

    // ---- Direct responses --------------------------------------------------------------------------------------

    [Theory]
    [InlineData("/health", 200, "ok\n", "text/plain; charset=utf-8")]
    [InlineData("/teapot", 418, "{\"short\":\"and stout\"}", "application/json")]
    [InlineData("/gone", 410, "", "text/plain; charset=utf-8")]
    public async Task DirectResponse_AnswersStatusBodyAndType_AndTheBackendSeesNothing(string target, int status, string body, string contentType)
    {
        var id = Guid.NewGuid().ToString("N");
        using var response = await fixture.SendAsync(target, headers: new() { ["x-test-id"] = id });

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(body, await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal(contentType, response.Content.Headers.ContentType?.ToString());
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(body), response.Content.Headers.ContentLength);
        Assert.Equal(["direct"], response.Headers.GetValues("x-answered-by"));
        Assert.DoesNotContain(fixture.Backend.Requests, r => r.Headers.TryGetValue("x-test-id", out var v) && v == id);
    }

    [Fact]
    public async Task DirectResponse_ToHead_SendsTheHeadersWithoutTheBody()
    {
        var answer = await fixture.Proxy.SendRawAsync("HEAD /health HTTP/1.1\r\nHost: proxy.test\r\nConnection: close\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains("Content-Length: 3\r\n", answer, StringComparison.OrdinalIgnoreCase);
        Assert.EndsWith("\r\n\r\n", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DirectResponse_204_HasNoBodyAndNoError()
    {
        using var response = await fixture.SendAsync("/no-content");

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(Ct));
    }

    // ---- Weighted splits ---------------------------------------------------------------------------------------

    [Fact]
    public async Task WeightedSplit_ThreeToOne_SharesRequestsByWeight()
    {
        await using var a = await TestBackend.StartAsync("a", "127.0.0.3");
        await using var b = await TestBackend.StartAsync("b", "127.0.0.4");
        await using var proxy = await TestProxy.StartAsync(Split(a, b, weightA: 3, weightB: 1));
        const int Requests = 400;

        var counts = await CountBodiesAsync(proxy, Requests);

        // Binomial(400, 0.75): mean 300, standard deviation about 8.7; ±50 is nearly six of them.
        Assert.Equal(Requests, counts.GetValueOrDefault("a") + counts.GetValueOrDefault("b"));
        Assert.InRange(counts.GetValueOrDefault("a"), 250, 350);
        Assert.InRange(counts.GetValueOrDefault("b"), 50, 150);
        Assert.Equal(counts.GetValueOrDefault("a"), a.Requests.Count);
        Assert.Equal(counts.GetValueOrDefault("b"), b.Requests.Count);
    }

    [Fact]
    public async Task WeightedSplit_WeightZero_GetsNothing()
    {
        await using var a = await TestBackend.StartAsync("a", "127.0.0.3");
        await using var b = await TestBackend.StartAsync("b", "127.0.0.4");
        await using var proxy = await TestProxy.StartAsync(Split(a, b, weightA: 1, weightB: 0));

        var counts = await CountBodiesAsync(proxy, 60);

        Assert.Equal(60, counts.GetValueOrDefault("a"));
        Assert.Empty(b.Requests);
    }

    [Theory]
    [InlineData(LoadBalancingAlgorithm.RingHash)]
    [InlineData(LoadBalancingAlgorithm.Maglev)]
    public async Task WeightedSplit_FirstClusterHashesAKey_TheSameKeyAlwaysLandsOnTheSameCluster(LoadBalancingAlgorithm algorithm)
    {
        await using var a = await TestBackend.StartAsync("a", "127.0.0.3");
        await using var b = await TestBackend.StartAsync("b", "127.0.0.4");
        var options = Split(a, b, weightA: 1, weightB: 1);
        options.Clusters["a"].Algorithm = algorithm;
        options.Clusters["a"].HashKey = new HashKeyOptions { Source = HashKeySource.Header, Name = "x-user" };
        await using var proxy = await TestProxy.StartAsync(options);
        var users = Enumerable.Range(0, 40).Select(i => "user-" + i).ToArray();

        var sides = new Dictionary<string, HashSet<string>>();
        for (var round = 0; round < 3; round++)
        {
            foreach (var user in users)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/");
                request.Headers.Add("x-user", user);
                using var response = await proxy.Client.SendAsync(request, Ct).WaitAsync(TimeSpan.FromSeconds(20), Ct);
                var side = await response.Content.ReadAsStringAsync(Ct);
                (sides.TryGetValue(user, out var set) ? set : sides[user] = []).Add(side);
            }
        }

        Assert.All(users, user => Assert.Single(sides[user]));

        // Both sides get users: the choice depends on the key, not a constant.
        var onA = users.Count(u => sides[u].Single() == "a");
        Assert.InRange(onA, 1, users.Length - 1);
    }

    private static ProxyOptions Split(TestBackend a, TestBackend b, int weightA, int weightB)
    {
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, a.Address);
        options.Clusters.Clear();
        options.Clusters["a"] = new ClusterOptions { Endpoints = { new EndpointOptions { Address = a.Address } } };
        options.Clusters["b"] = new ClusterOptions { Endpoints = { new EndpointOptions { Address = b.Address } } };
        options.Routes.Clear();
        options.Routes.Add(new ProxyRouteOptions
        {
            Path = "/",
            Backends =
            {
                new WeightedClusterOptions { Cluster = "a", Weight = weightA },
                new WeightedClusterOptions { Cluster = "b", Weight = weightB },
            },
        });
        return options;
    }

    private static async Task<Dictionary<string, int>> CountBodiesAsync(TestProxy proxy, int requests)
    {
        var counts = new Dictionary<string, int>();
        for (var i = 0; i < requests; i++)
        {
            using var response = await proxy.Client.GetAsync("/", Ct).WaitAsync(TimeSpan.FromSeconds(20), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync(Ct);
            counts[body] = counts.GetValueOrDefault(body) + 1;
        }

        return counts;
    }

    public sealed class Fixture : IAsyncLifetime
    {
        internal TestBackend Backend { get; private set; } = null!;

        internal TestProxy Proxy { get; private set; } = null!;

        public async ValueTask InitializeAsync()
        {
            Backend = await TestBackend.StartAsync("b", "127.0.0.2", context =>
            {
                var headers = context.Response.Headers;
                headers["x-upstream-set"] = "original";
                headers["x-upstream-remove"] = "secret";
                headers["x-upstream-add"] = "one";
                return context.Response.WriteAsync("b");
            });
            var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, Backend.Address);
            options.Routes.Clear();
            var routes = options.Routes;

            routes.Add(new ProxyRouteOptions { Name = "catch-all", Path = "/", Cluster = "web" });
            routes.Add(new ProxyRouteOptions { Path = "/static", Cluster = "web", Rewrite = new UrlRewriteOptions { ReplacePrefixMatch = "/" } });
            routes.Add(new ProxyRouteOptions { Path = "/v1", Cluster = "web", Rewrite = new UrlRewriteOptions { ReplacePrefixMatch = "/v2" } });
            routes.Add(new ProxyRouteOptions { Path = "/café", Cluster = "web", Rewrite = new UrlRewriteOptions { ReplacePrefixMatch = "/menu" } });
            routes.Add(new ProxyRouteOptions { Path = "/full", Cluster = "web", Rewrite = new UrlRewriteOptions { ReplaceFullPath = "/replaced" } });
            routes.Add(new ProxyRouteOptions { Path = "/host-rewrite", Cluster = "web", Rewrite = new UrlRewriteOptions { Hostname = "internal.svc" } });

            var requestHeaders = new HeaderModifierOptions();
            requestHeaders.Set.Add(new HeaderValueOptions { Name = "x-set", Value = "from-route" });
            requestHeaders.Set.Add(new HeaderValueOptions { Name = "x-set-new", Value = "route-set" });
            requestHeaders.Add.Add(new HeaderValueOptions { Name = "x-add", Value = "two" });
            requestHeaders.Add.Add(new HeaderValueOptions { Name = "x-add-new", Value = "fresh" });
            requestHeaders.Add.Add(new HeaderValueOptions { Name = "x-both", Value = "added" });
            requestHeaders.Remove.Add("x-remove");
            requestHeaders.Remove.Add("x-remove-case");
            requestHeaders.Remove.Add("x-both");
            routes.Add(new ProxyRouteOptions { Path = "/reqh", Cluster = "web", RequestHeaders = requestHeaders });

            var responseHeaders = new HeaderModifierOptions();
            responseHeaders.Set.Add(new HeaderValueOptions { Name = "x-upstream-set", Value = "replaced" });
            responseHeaders.Add.Add(new HeaderValueOptions { Name = "x-upstream-add", Value = "two" });
            responseHeaders.Add.Add(new HeaderValueOptions { Name = "x-new", Value = "fresh" });
            responseHeaders.Remove.Add("X-Upstream-Remove");
            routes.Add(new ProxyRouteOptions { Path = "/resph", Cluster = "web", ResponseHeaders = responseHeaders });

            AddRedirect(routes, "/to-https", new RedirectOptions { Scheme = "https" });
            AddRedirect(routes, "/to-host", new RedirectOptions { Hostname = "new.example.com", StatusCode = 301 });
            AddRedirect(routes, "/to-port", new RedirectOptions { Scheme = "https", Port = 8443 });
            AddRedirect(routes, "/to-port80", new RedirectOptions { Port = 80 });
            AddRedirect(routes, "/old", new RedirectOptions { ReplacePrefixMatch = "/new", StatusCode = 308 });
            AddRedirect(routes, "/über", new RedirectOptions { ReplacePrefixMatch = "/about", StatusCode = 301 });
            AddRedirect(routes, "/moved", new RedirectOptions { ReplaceFullPath = "/landing", StatusCode = 303 });
            AddRedirect(routes, "/r307", new RedirectOptions { StatusCode = 307 });

            AddDirect(routes, "/health", new DirectResponseOptions { Body = "ok\n" });
            AddDirect(routes, "/teapot", new DirectResponseOptions { StatusCode = 418, Body = "{\"short\":\"and stout\"}", ContentType = "application/json" });
            AddDirect(routes, "/no-content", new DirectResponseOptions { StatusCode = 204 });
            AddDirect(routes, "/gone", new DirectResponseOptions { StatusCode = 410 });

            Proxy = await TestProxy.StartAsync(options);
        }

        private static void AddRedirect(IList<ProxyRouteOptions> routes, string path, RedirectOptions redirect) =>
            routes.Add(new ProxyRouteOptions { Path = path, Redirect = redirect, ResponseHeaders = AnsweredBy("redirect") });

        private static void AddDirect(IList<ProxyRouteOptions> routes, string path, DirectResponseOptions direct) =>
            routes.Add(new ProxyRouteOptions { Path = path, PathType = PathMatchType.Exact, DirectResponse = direct, ResponseHeaders = AnsweredBy("direct") });

        private static HeaderModifierOptions AnsweredBy(string value)
        {
            var modifier = new HeaderModifierOptions();
            modifier.Set.Add(new HeaderValueOptions { Name = "x-answered-by", Value = value });
            return modifier;
        }

        internal async Task<HttpResponseMessage> SendAsync(string target, string host = "proxy.test", Dictionary<string, string>? headers = null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, target);
            request.Headers.Host = host;
            foreach (var (name, value) in headers ?? [])
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }

            return await Proxy.Client.SendAsync(request, Ct).WaitAsync(TimeSpan.FromSeconds(20), Ct);
        }

        /// <summary>Sends a request through a forwarding route; returns what the backend received of it.</summary>
        internal async Task<SeenRequest> ForwardAsync(string target, string host = "proxy.test", Dictionary<string, string>? headers = null)
        {
            var id = Guid.NewGuid().ToString("N");
            headers ??= [];
            headers["x-test-id"] = id;
            using var response = await SendAsync(target, host, headers);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return Assert.Single(Backend.Requests, r => r.Headers.TryGetValue("x-test-id", out var v) && v == id);
        }

        public async ValueTask DisposeAsync()
        {
            await Proxy.DisposeAsync();
            await Backend.DisposeAsync();
        }
    }
}
