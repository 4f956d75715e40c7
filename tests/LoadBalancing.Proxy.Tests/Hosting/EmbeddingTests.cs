using System.Net;
using System.Security.Claims;
using System.Text.Encodings.Web;
using System.Threading.RateLimiting;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LoadBalancing.Proxy.Tests.Hosting;

/// <summary>
/// The proxy mapped as endpoints of an ASP.NET Core application (MapLoadBalancingProxy): the application's endpoints,
/// fallback, authorization and rate limiting compose with it, and its routes stay live.
/// </summary>
public sealed partial class EmbeddingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 30_000)]
    public async Task MapLoadBalancingProxy_AppEndpointWins_OtherPathsAreProxied()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var web = await TestBackend.StartAsync("web");
        await using var app = await EmbeddedApp.StartAsync(Options(("/", "web", web.Address)), conventions: proxy => proxy.WithMetadata(new Marker()), pipeline: app =>
            app.Use((context, next) =>
            {
                // Runs after routing: the endpoint chosen for the request is known, with its metadata.
                if (context.GetEndpoint()?.Metadata.GetMetadata<Marker>() is not null)
                {
                    context.Response.Headers["X-Marked"] = "proxy";
                }

                return next(context);
            }));

        using var local = await app.Client.GetAsync("/local", ct);
        using var proxied = await app.Client.GetAsync("/api/orders?id=7", ct);

        Assert.Equal("local", await local.Content.ReadAsStringAsync(ct));
        Assert.False(local.Headers.Contains("X-Marked"));
        Assert.Equal("web", await proxied.Content.ReadAsStringAsync(ct));
        Assert.Equal("proxy", Assert.Single(proxied.Headers.GetValues("X-Marked")));
        Assert.Equal("/api/orders?id=7", Assert.Single(web.Requests).Target);
        Assert.Equal(HttpStatusCode.OK, (await app.Admin.GetAsync("/healthz", ct)).StatusCode);
    }

    [Fact(Timeout = 30_000)]
    public async Task MapLoadBalancingProxy_NoProxyRoute_FallsToTheAppsFallback()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var web = await TestBackend.StartAsync("web");
        await using var app = await EmbeddedApp.StartAsync(Options(("/api", "web", web.Address)), pipeline: app => app.MapFallback(() => "fallback"));

        Assert.Equal("fallback", await app.Client.GetStringAsync("/other", ct));
        Assert.Equal("web", await app.Client.GetStringAsync("/api/x", ct));
        Assert.Equal("/api/x", Assert.Single(web.Requests).Target);
    }

    [Fact(Timeout = 30_000)]
    public async Task RequireAuthorization_RejectsUnauthenticatedProxiedRequests_BeforeTheBackend()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var web = await TestBackend.StartAsync("web");
        await using var app = await EmbeddedApp.StartAsync(
            Options(("/", "web", web.Address)),
            services: s =>
            {
                s.AddAuthentication(HeaderAuthentication.Name).AddScheme<AuthenticationSchemeOptions, HeaderAuthentication>(HeaderAuthentication.Name, null);
                s.AddAuthorization();
            },
            pipeline: app =>
            {
                app.UseAuthentication();
                app.UseAuthorization();
            },
            conventions: proxy => proxy.RequireAuthorization());

        using var anonymous = await app.Client.GetAsync("/api", ct);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Empty(web.Requests);
        Assert.Equal("local", await app.Client.GetStringAsync("/local", ct));

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api");
        request.Headers.Add(HeaderAuthentication.Header, "ann");
        using var signedIn = await app.Client.SendAsync(request, ct);

        Assert.Equal("web", await signedIn.Content.ReadAsStringAsync(ct));
        Assert.Equal("/api", Assert.Single(web.Requests).Target);
    }

    [Fact(Timeout = 30_000)]
    public async Task RequireRateLimiting_AppliesToProxiedRoutes_NotToTheAppsEndpoints()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var web = await TestBackend.StartAsync("web");
        await using var app = await EmbeddedApp.StartAsync(
            Options(("/", "web", web.Address)),
            services: s => s.AddRateLimiter(limiter =>
            {
                limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
                limiter.AddFixedWindowLimiter("one", window =>
                {
                    window.PermitLimit = 1;
                    window.Window = TimeSpan.FromHours(1);
                    window.QueueLimit = 0;
                    window.QueueProcessingOrder = QueueProcessingOrder.OldestFirst;
                });
            }),
            pipeline: app => app.UseRateLimiter(),
            conventions: proxy => proxy.RequireRateLimiting("one"));

        using var first = await app.Client.GetAsync("/a", ct);
        using var second = await app.Client.GetAsync("/b", ct);
        using var local1 = await app.Client.GetAsync("/local", ct);
        using var local2 = await app.Client.GetAsync("/local", ct);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Equal("/a", Assert.Single(web.Requests).Target);
        Assert.Equal(HttpStatusCode.OK, local1.StatusCode);
        Assert.Equal(HttpStatusCode.OK, local2.StatusCode);
    }

    [Fact(Timeout = 30_000)]
    public async Task ARouteAddedAtRuntime_IsServedByTheMappedProxy()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var web = await TestBackend.StartAsync("web");
        await using var shop = await TestBackend.StartAsync("shop");
        var source = new TestRouteSource();
        await using var app = await EmbeddedApp.StartAsync(Options(("/api", "web", web.Address)), proxy: p => p.AddRouteSource(_ => source));
        using (var before = await app.Client.GetAsync("/shop/cart", ct))
        {
            Assert.Equal(HttpStatusCode.NotFound, before.StatusCode);
        }

        var cluster = new ClusterOptions();
        cluster.Endpoints.Add(new EndpointOptions { Address = shop.Address });
        source.Publish(new ProxyRouteSet([new ProxyRouteOptions { Name = "shop", Path = "/shop", Cluster = "source:shop" }], new Dictionary<string, ClusterOptions> { ["source:shop"] = cluster }));

        Assert.Equal("shop", await app.Client.GetStringAsync("/shop/cart", ct));
        Assert.Equal("web", await app.Client.GetStringAsync("/api", ct));
        Assert.Equal("local", await app.Client.GetStringAsync("/local", ct));
    }

    [Fact(Timeout = 30_000)]
    public async Task AClusterFedByAnEndpointSource_NeedsNoStaticEndpoints_AndServes()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var web = await TestBackend.StartAsync("web");
        var options = Options(("/", "web", web.Address));
        options.Clusters["web"].Endpoints.Clear();
        var source = new EndpointSource("web");
        var address = IPEndPoint.Parse(web.Address);
        source.Publish([new BackendEndpoint(address.Address.ToString(), address.Port)]);

        var routes = new TestRouteSource();
        ProxyConfiguration.Validate(options);
        await using var app = await EmbeddedApp.StartAsync(options, proxy: p => p.UseEndpointSource("web", source, stalenessBound: null).AddRouteSource(_ => routes));
        Assert.Equal("web", await app.Client.GetStringAsync("/", ct));

        // Every later snapshot is validated with the sources in code too.
        routes.Publish(new ProxyRouteSet([new ProxyRouteOptions { Name = "api", Path = "/api", Cluster = "web" }], new Dictionary<string, ClusterOptions>()));

        Assert.Empty(app.Runtime.Status.Errors);
        Assert.Equal(2, app.Runtime.Config.Generation);
        Assert.Equal("web", await app.Client.GetStringAsync("/api", ct));
    }

    [Fact(Timeout = 30_000)]
    public async Task AClusterWithNeitherEndpointsNorASource_IsRefused_NamingItsKey()
    {
        var ct = TestContext.Current.CancellationToken;
        var options = Options(("/", "web", "127.0.0.1:1"));
        options.Clusters["web"].Endpoints.Clear();

        var refused = await Assert.ThrowsAsync<ProxyConfigurationException>(() => EmbeddedApp.StartAsync(options));

        Assert.Equal(
            "Proxy:Clusters:web:Endpoints: a cluster needs at least one endpoint, a Kubernetes Service, or an endpoint source registered in code (IProxyBuilder.UseEndpointSource).",
            Assert.Single(refused.Errors));
    }

    private static ProxyOptions Options(params (string Path, string Cluster, string Address)[] routes)
    {
        var options = new ProxyOptions();
        options.Listeners.Add(new ListenerOptions { Url = "http://127.0.0.1:0" });
        options.Admin.Url = "http://127.0.0.1:0";
        foreach (var (path, cluster, address) in routes)
        {
            options.Routes.Add(new ProxyRouteOptions { Path = path, Cluster = cluster });
            if (!options.Clusters.ContainsKey(cluster))
            {
                var endpoints = new ClusterOptions();
                endpoints.Endpoints.Add(new EndpointOptions { Address = address });
                options.Clusters[cluster] = endpoints;
            }
        }

        return options;
    }

    /// <summary>An application with its own <c>/local</c> endpoint and the proxy mapped beside it, on loopback.</summary>
    private sealed class EmbeddedApp : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private EmbeddedApp(WebApplication app)
        {
            _app = app;
            var listeners = app.Services.GetRequiredService<ProxyListeners>();
            Client = new HttpClient { BaseAddress = new Uri($"http://{listeners.ProxyEndPoint}/"), Timeout = TimeSpan.FromSeconds(20) };
            Admin = new HttpClient { BaseAddress = new Uri($"http://{listeners.AdminEndPoint}/"), Timeout = TimeSpan.FromSeconds(20) };
        }

        public HttpClient Client { get; }

        public HttpClient Admin { get; }

        internal ProxyRuntime Runtime => _app.Services.GetRequiredService<ProxyRuntime>();

        internal IServiceProvider Services => _app.Services;

        public static async Task<EmbeddedApp> StartAsync(
            ProxyOptions options,
            Action<IServiceCollection>? services = null,
            Action<IProxyBuilder>? proxy = null,
            Action<WebApplication>? pipeline = null,
            Action<IEndpointConventionBuilder>? conventions = null)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            services?.Invoke(builder.Services);
            TestTransport.Apply(options);
            var proxyBuilder = builder.Services.AddLoadBalancingProxy(options);
            proxy?.Invoke(proxyBuilder);
            builder.WebHost.UseLoadBalancingProxyListeners(options);
            var app = builder.Build();
            try
            {
                pipeline?.Invoke(app);
                app.MapGet("/local", () => "local");
                var mapped = app.MapLoadBalancingProxy();
                conventions?.Invoke(mapped);
                await app.StartAsync(Ct);
                return new EmbeddedApp(app);
            }
            catch
            {
                await app.DisposeAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            Admin.Dispose();
            await _app.StopAsync(CancellationToken.None);
            await _app.DisposeAsync();
        }
    }

    private sealed class Marker;

    /// <summary>Signs in whoever sends an <c>X-User</c> header; the rest are anonymous.</summary>
    private sealed class HeaderAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        public const string Name = "header";
        public const string Header = "X-User";

        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            if (!Request.Headers.TryGetValue(Header, out var user))
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, user.ToString())], Name);
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Name)));
        }
    }

    private sealed class TestRouteSource() : ProxyRouteSource("embedding")
    {
        public new void Publish(ProxyRouteSet set) => base.Publish(set);
    }
}
