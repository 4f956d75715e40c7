using System.Net;
using System.Threading.RateLimiting;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Tests.Hosting;

/// <summary>A route's own AuthorizationPolicy and RateLimiterPolicy, enforced by the application's middleware before the proxy forwards.</summary>
public sealed partial class EmbeddingTests
{
    [Fact(Timeout = 30_000)]
    public async Task RouteAuthorizationPolicy_EachRouteItsOwn_RefusedRequestsNeverReachTheBackend()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var web = await TestBackend.StartAsync("web");
        var options = Options(("/open", "web", web.Address), ("/admin", "web", web.Address), ("/signed-in", "web", web.Address));
        options.Routes[1].AuthorizationPolicy = "admins";
        options.Routes[2].AuthorizationPolicy = "Default";
        await using var app = await StartWithAuthorizationAsync(options);

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, "/open", user: null, ct));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(app, "/admin", user: null, ct));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(app, "/admin", user: "ann", ct));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, "/admin", user: "root", ct));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(app, "/signed-in", user: null, ct));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, "/signed-in", user: "ann", ct));

        Assert.Equal(["/open", "/admin", "/signed-in"], web.Requests.Select(r => r.Target));
        Assert.Equal("local", await app.Client.GetStringAsync("/local", ct));
    }

    [Fact(Timeout = 30_000)]
    public async Task RouteAnonymous_LiftsTheMappedProxysRequireAuthorization_ForThatRouteOnly()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var web = await TestBackend.StartAsync("web");
        var options = Options(("/public", "web", web.Address), ("/", "web", web.Address));
        options.Routes[0].AuthorizationPolicy = "Anonymous";
        await using var app = await StartWithAuthorizationAsync(options, conventions: proxy => proxy.RequireAuthorization());

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, "/public/page", user: null, ct));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(app, "/private", user: null, ct));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, "/private", user: "ann", ct));
        Assert.Equal(["/public/page", "/private"], web.Requests.Select(r => r.Target));
    }

    [Fact(Timeout = 30_000)]
    public async Task RouteRateLimiterPolicy_LimitsItsRoute_DisableLiftsTheConventions()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var web = await TestBackend.StartAsync("web");
        var options = Options(("/limited", "web", web.Address), ("/unlimited", "web", web.Address), ("/default", "web", web.Address), ("/", "web", web.Address));
        options.Routes[0].RateLimiterPolicy = "one-per-hour";
        options.Routes[1].RateLimiterPolicy = "Disable";
        options.Routes[2].RateLimiterPolicy = "Default";
        await using var app = await EmbeddedApp.StartAsync(
            options,
            services: s => s.AddRateLimiter(limiter =>
            {
                limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
                limiter.AddFixedWindowLimiter("one-per-hour", w => { w.PermitLimit = 1; w.Window = TimeSpan.FromHours(1); w.QueueLimit = 0; });
                limiter.AddFixedWindowLimiter("two-per-hour", w => { w.PermitLimit = 2; w.Window = TimeSpan.FromHours(1); w.QueueLimit = 0; });
            }),
            pipeline: a => a.UseRateLimiter(),
            conventions: proxy => proxy.RequireRateLimiting("two-per-hour"));

        // The route's policy replaces the conventions': one request an hour, not two.
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, "/limited", user: null, ct));
        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusAsync(app, "/limited", user: null, ct));
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, "/unlimited", user: null, ct));
        }

        // Default is the conventions' policy, as a route without one: the two share its one window.
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, "/default", user: null, ct));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, "/other", user: null, ct));
        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusAsync(app, "/other", user: null, ct));
        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusAsync(app, "/default", user: null, ct));
        Assert.Equal(7, web.Requests.Count);
    }

    [Fact(Timeout = 30_000)]
    public async Task ARateLimiterPolicyTheApplicationLacks_IsRefusedAtStartAndOnReload_NamingItsKey()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var options = Options(("/", "web", "127.0.0.1:1"), ("/by-type", "web", "127.0.0.1:1"), ("/off", "web", "127.0.0.1:1"));
        options.Routes[0].RateLimiterPolicy = "nobody-defined-this";
        options.Routes[1].RateLimiterPolicy = "by-type";
        options.Routes[2].RateLimiterPolicy = "Disable";
        void Limiters(IServiceCollection s) => s.AddRateLimiter(limiter =>
        {
            limiter.AddFixedWindowLimiter("per-hour", w => { w.PermitLimit = 1; w.Window = TimeSpan.FromHours(1); });
            limiter.AddPolicy<string, ByPathPolicy>("by-type");
        });

        // Without the check, ASP.NET Core would answer 500 to each of the route's requests.
        var refused = await Assert.ThrowsAsync<ProxyConfigurationException>(() => EmbeddedApp.StartAsync(options, services: Limiters, pipeline: a => a.UseRateLimiter()));
        Assert.Equal("Proxy:Routes:0:RateLimiterPolicy: the application has no rate limiter policy named 'nobody-defined-this' (Disable and Default are the other choices).", Assert.Single(refused.Errors));

        options.Routes[0].RateLimiterPolicy = "per-hour";
        await using var app = await EmbeddedApp.StartAsync(options, services: Limiters, pipeline: a => a.UseRateLimiter());
        var reload = Options(("/", "web", "127.0.0.1:1"));
        reload.Routes[0].RateLimiterPolicy = "Per-Hour";
        var rejected = app.Runtime.Reload(reload, [], "test");

        Assert.Equal(ReloadOutcome.Rejected, rejected.Outcome);
        Assert.Equal("Proxy:Routes:0:RateLimiterPolicy: the application has no rate limiter policy named 'Per-Hour' (Disable and Default are the other choices).", Assert.Single(rejected.Errors));
    }

    [Fact(Timeout = 30_000)]
    public async Task Reload_ChangesARoutesPolicy_InService_AndAnUnknownPolicyIsRefusedNamingItsKey()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var web = await TestBackend.StartAsync("web");
        await using var app = await StartWithAuthorizationAsync(Options(("/admin", "web", web.Address)));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, "/admin", user: null, ct));

        var guarded = Options(("/admin", "web", web.Address));
        guarded.Routes[0].AuthorizationPolicy = "admins";
        Assert.Equal(ReloadOutcome.Applied, app.Runtime.Reload(guarded, [], "test").Outcome);
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(app, "/admin", user: null, ct));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, "/admin", user: "root", ct));

        var unknown = Options(("/admin", "web", web.Address));
        unknown.Routes[0].AuthorizationPolicy = "nobody-defined-this";
        var refused = app.Runtime.Reload(unknown, [], "test");

        Assert.Equal(ReloadOutcome.Rejected, refused.Outcome);
        Assert.Equal("Proxy:Routes:0:AuthorizationPolicy: the application has no authorization policy named 'nobody-defined-this' (Default and Anonymous are the other choices).", Assert.Single(refused.Errors));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(app, "/admin", user: null, ct));
    }

    [Fact(Timeout = 30_000)]
    public async Task ARequestRoutedWithoutItsRoutesPolicies_IsRefused_NeverForwarded()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var web = await TestBackend.StartAsync("web");
        var options = Options(("/", "web", web.Address));
        options.Routes[0].AuthorizationPolicy = "Default";

        // As if a reload had given the route its policy between routing and the proxy's own match: the endpoint that
        // routed the request (stood in for here after authorization) did not carry it.
        await using var app = await StartWithAuthorizationAsync(options, pipeline: a => a.Use((context, next) =>
        {
            if (context.GetEndpoint() is { } endpoint)
            {
                context.SetEndpoint(new Endpoint(endpoint.RequestDelegate, new EndpointMetadataCollection(endpoint.Metadata.Where(m => m is not LoadBalancing.Proxy.Routing.EnforcedRoutePolicies)), endpoint.DisplayName));
            }

            return next(context);
        }));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, await StatusAsync(app, "/x", user: "ann", ct));
        Assert.Empty(web.Requests);
    }

    [Fact(Timeout = 30_000)]
    public async Task MappedWithAnUnknownAuthorizationPolicy_IsRefusedAtStart_NamingItsKey()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var options = Options(("/", "web", "127.0.0.1:1"));
        options.Routes[0].AuthorizationPolicy = "admin";

        var refused = await Assert.ThrowsAsync<ProxyConfigurationException>(() => StartWithAuthorizationAsync(options));

        Assert.Equal("Proxy:Routes:0:AuthorizationPolicy: the application has no authorization policy named 'admin' (Default and Anonymous are the other choices).", Assert.Single(refused.Errors));
    }

    [Fact(Timeout = 30_000)]
    public async Task AsMiddleware_ARoutePolicy_IsRefused_AtStartAndOnReload()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var options = Options(("/", "web", "127.0.0.1:1"), ("/api", "web", "127.0.0.1:1"));
        options.Routes[1].AuthorizationPolicy = "admins";
        options.Routes[1].RateLimiterPolicy = "per-user";
        options.Routes[1].CorsPolicy = "spa";
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddLoadBalancingProxy(options);
        await using var app = builder.Build();

        var refused = Assert.Throws<ProxyConfigurationException>(() => app.UseLoadBalancingProxy());

        Assert.Equal(
            [
                "Proxy:Routes:1:AuthorizationPolicy: 'admins' cannot be enforced by the proxy as middleware (UseLoadBalancingProxy, as ProxyHost runs it); map it with MapLoadBalancingProxy() in an application that has authorization.",
                "Proxy:Routes:1:RateLimiterPolicy: 'per-user' cannot be enforced by the proxy as middleware (UseLoadBalancingProxy, as ProxyHost runs it); map it with MapLoadBalancingProxy() in an application that has rate limiting.",
                "Proxy:Routes:1:CorsPolicy: 'spa' cannot be enforced by the proxy as middleware (UseLoadBalancingProxy, as ProxyHost runs it); map it with MapLoadBalancingProxy() in an application that has CORS.",
            ],
            refused.Errors);

        // A reload that adds one is refused the same way.
        var runtime = app.Services.GetRequiredService<ProxyRuntime>();
        var plain = Options(("/", "web", "127.0.0.1:1"));
        Assert.Equal(ReloadOutcome.Applied, runtime.Reload(plain, [], "test").Outcome);
        var guarded = Options(("/", "web", "127.0.0.1:1"));
        guarded.Routes[0].AuthorizationPolicy = "Default";
        var reload = runtime.Reload(guarded, [], "test");
        Assert.Equal(ReloadOutcome.Rejected, reload.Outcome);
        Assert.StartsWith("Proxy:Routes:0:AuthorizationPolicy: 'Default' cannot be enforced", Assert.Single(reload.Errors), StringComparison.Ordinal);
    }

    /// <summary>A rate limiter policy added by type (ASP.NET Core keeps those apart from the ones added as instances).</summary>
    private sealed class ByPathPolicy : IRateLimiterPolicy<string>
    {
        public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected => null;

        public RateLimitPartition<string> GetPartition(HttpContext httpContext) =>
            RateLimitPartition.GetNoLimiter(httpContext.Request.Path.Value ?? "");
    }

    private static Task<EmbeddedApp> StartWithAuthorizationAsync(ProxyOptions options, Action<IEndpointConventionBuilder>? conventions = null, Action<WebApplication>? pipeline = null) =>
        EmbeddedApp.StartAsync(
            options,
            services: s =>
            {
                s.AddAuthentication(HeaderAuthentication.Name).AddScheme<AuthenticationSchemeOptions, HeaderAuthentication>(HeaderAuthentication.Name, null);
                s.AddAuthorization(a => a.AddPolicy("admins", p => p.RequireUserName("root")));
            },
            pipeline: a =>
            {
                a.UseAuthentication();
                a.UseAuthorization();
                pipeline?.Invoke(a);
            },
            conventions: conventions);

    private static async Task<HttpStatusCode> StatusAsync(EmbeddedApp app, string path, string? user, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (user is not null)
        {
            request.Headers.Add(HeaderAuthentication.Header, user);
        }

        using var response = await app.Client.SendAsync(request, ct);
        return response.StatusCode;
    }
}
