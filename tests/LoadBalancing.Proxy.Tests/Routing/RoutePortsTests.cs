using System.Net;
using System.Text.Json;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancing.Proxy.Tests.Routing;

/// <summary>
/// Routes with a <c>Ports</c> condition, over real sockets: one proxy with three listeners, and routes for the same
/// host and path that each belong to one listener's port, as a Gateway API controller publishes them (port A
/// redirects to https, port B forwards). Listeners bind port 0, so the routes come from a route source once the
/// ports are known.
/// </summary>
public sealed class RoutePortsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EachPort_GetsItsOwnRoute_ForTheSameHostAndPath()
    {
        await using var ports = await PortsProxy.StartAsync();
        var (a, b, c) = (ports.Ports[0], ports.Ports[1], ports.Ports[2]);
        ports.Publish(
            Route("port-a", "/", [a], redirect: true),
            Route("port-b", "/", [b]));

        using var redirected = await ports.GetAsync(a, "/cart?x=1");
        Assert.Equal(HttpStatusCode.MovedPermanently, redirected.StatusCode);
        Assert.Equal("https://ports.test/cart?x=1", redirected.Headers.Location?.OriginalString);

        using var forwarded = await ports.GetAsync(b, "/cart?x=1");
        Assert.Equal(HttpStatusCode.OK, forwarded.StatusCode);
        Assert.Equal("web", await forwarded.Content.ReadAsStringAsync(Ct));

        // No route of the exact host takes port C: the configured any-host route does.
        using var other = await ports.GetAsync(c, "/cart");
        Assert.Equal("fallback", await other.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task ARouteWithSeveralPorts_MatchesOnEach()
    {
        await using var ports = await PortsProxy.StartAsync();
        ports.Publish(Route("a-and-c", "/", [ports.Ports[0], ports.Ports[2]]));

        Assert.Equal("web", await ports.GetStringAsync(ports.Ports[0], "/"));
        Assert.Equal("fallback", await ports.GetStringAsync(ports.Ports[1], "/"));
        Assert.Equal("web", await ports.GetStringAsync(ports.Ports[2], "/"));
    }

    [Fact]
    public async Task APortCondition_OnlyFilters_ItDoesNotWinPrecedence()
    {
        await using var ports = await PortsProxy.StartAsync();
        var a = ports.Ports[0];
        ports.Publish(
            Route("any-port-first", "/p", []),
            Route("port-a-second", "/p", [a], redirect: true), // same path and conditions otherwise: the earlier route wins
            Route("port-a-first", "/q", [a], redirect: true),
            Route("any-port-second", "/q", []));

        Assert.Equal("web", await ports.GetStringAsync(a, "/p"));
        using var q = await ports.GetAsync(a, "/q");
        Assert.Equal(HttpStatusCode.MovedPermanently, q.StatusCode);
        Assert.Equal("web", await ports.GetStringAsync(ports.Ports[1], "/q"));
    }

    [Fact]
    public async Task ConfigView_ShowsARoutesPorts()
    {
        await using var ports = await PortsProxy.StartAsync();
        ports.Publish(Route("port-b", "/", [ports.Ports[1], 8443]));

        using var config = JsonDocument.Parse(await ports.Proxy.Admin.GetStringAsync("config", Ct));
        var route = config.RootElement.GetProperty("configuration").GetProperty("Routes").EnumerateArray()
            .Single(r => r.TryGetProperty("Name", out var name) && name.GetString() == "port-b");
        Assert.Equal([ports.Ports[1], 8443], route.GetProperty("Ports").EnumerateArray().Select(p => p.GetInt32()));
        Assert.False(config.RootElement.GetProperty("configuration").GetProperty("Routes")[0].TryGetProperty("Ports", out _));
    }

    private static ProxyRouteOptions Route(string name, string path, int[] ports, bool redirect = false)
    {
        var route = new ProxyRouteOptions { Name = name, Path = path };
        route.Hosts.Add("ports.test");
        foreach (var port in ports)
        {
            route.Ports.Add(port);
        }

        if (redirect)
        {
            route.Redirect = new RedirectOptions { Scheme = "https", StatusCode = 301 };
        }
        else
        {
            route.Cluster = "web";
        }

        return route;
    }

    private sealed class PortsProxy : IAsyncDisposable
    {
        private readonly TestBackend _backend;
        private readonly TestRouteSource _source;
        private readonly HttpClient _client = new(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(20) };

        private PortsProxy(TestBackend backend, TestRouteSource source, TestProxy proxy)
        {
            _backend = backend;
            _source = source;
            Proxy = proxy;
            Ports = [.. proxy.Services.GetRequiredService<ProxyListeners>().Proxy.Select(l => l.IPEndPoint!.Port)];
        }

        public TestProxy Proxy { get; }

        /// <summary>The three listeners' bound ports.</summary>
        public IReadOnlyList<int> Ports { get; }

        public static async Task<PortsProxy> StartAsync()
        {
            var backend = await TestBackend.StartAsync("web", "127.0.0.2");
            var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
            options.Listeners.Add(new ListenerOptions { Url = "http://127.0.0.1:0" });
            options.Listeners.Add(new ListenerOptions { Url = "http://127.0.0.1:0" });
            options.Routes[0] = new ProxyRouteOptions { Path = "/", DirectResponse = new DirectResponseOptions { Body = "fallback" } };
            var source = new TestRouteSource();
            var proxy = await TestProxy.StartAsync(options, configure: p => p.AddRouteSource(_ => source));
            return new PortsProxy(backend, source, proxy);
        }

        public void Publish(params ProxyRouteOptions[] routes)
        {
            _source.Publish(new ProxyRouteSet(routes, new Dictionary<string, ClusterOptions>()));
            Assert.Empty(Proxy.Runtime.Status.Errors);
        }

        public async Task<HttpResponseMessage> GetAsync(int port, string target)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}{target}");
            request.Headers.Host = "ports.test";
            return await _client.SendAsync(request, Ct);
        }

        public async Task<string> GetStringAsync(int port, string target)
        {
            using var response = await GetAsync(port, target);
            return await response.Content.ReadAsStringAsync(Ct);
        }

        public async ValueTask DisposeAsync()
        {
            _client.Dispose();
            await Proxy.DisposeAsync();
            await _backend.DisposeAsync();
        }
    }

    private sealed class TestRouteSource() : ProxyRouteSource("ports")
    {
        public new void Publish(ProxyRouteSet set) => base.Publish(set);
    }
}
