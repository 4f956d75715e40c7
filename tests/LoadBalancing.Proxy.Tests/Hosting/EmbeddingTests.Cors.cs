using System.Net;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancing.Proxy.Tests.Hosting;

/// <summary>A route's own CorsPolicy, enforced by the application's CORS middleware, and what the policy endpoints cost across reloads.</summary>
public sealed partial class EmbeddingTests
{
    private const string AppOrigin = "https://app.example";

    [Fact(Timeout = 30_000)]
    public async Task RouteCorsPolicy_AnswersItsRoutesPreflights_AndHeadsItsResponses_OtherRoutesUntouched()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var web = await TestBackend.StartAsync("web");
        var options = Options(("/api", "web", web.Address), ("/closed", "web", web.Address), ("/", "web", web.Address));
        options.Routes[0].CorsPolicy = "spa";
        options.Routes[0].Methods.Add("GET");
        options.Routes[0].Methods.Add("PUT");
        options.Routes[1].CorsPolicy = "Disable";
        await using var app = await StartWithCorsAsync(options);

        // The route's preflight, though OPTIONS is not among its methods: answered by the application, not forwarded.
        using (var preflight = await SendAsync(app, HttpMethod.Options, "/api/items", AppOrigin, requestMethod: "PUT", ct))
        {
            Assert.Equal(HttpStatusCode.NoContent, preflight.StatusCode);
            Assert.Equal(AppOrigin, Assert.Single(preflight.Headers.GetValues("Access-Control-Allow-Origin")));
            Assert.Contains("PUT", string.Join(",", preflight.Headers.GetValues("Access-Control-Allow-Methods")), StringComparison.Ordinal);
        }

        // The request it prepared: forwarded, with the policy's header on the response.
        using (var put = await SendAsync(app, HttpMethod.Put, "/api/items", AppOrigin, requestMethod: null, ct))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            Assert.Equal(AppOrigin, Assert.Single(put.Headers.GetValues("Access-Control-Allow-Origin")));
        }

        // An origin the policy does not allow: no CORS headers, so the browser refuses; the application still answers.
        using (var stranger = await SendAsync(app, HttpMethod.Options, "/api/items", "https://evil.example", requestMethod: "PUT", ct))
        {
            Assert.False(stranger.Headers.Contains("Access-Control-Allow-Origin"));
        }

        // Disable: the preflight is answered without CORS headers, and never forwarded.
        using (var closed = await SendAsync(app, HttpMethod.Options, "/closed", AppOrigin, requestMethod: "GET", ct))
        {
            Assert.Equal(HttpStatusCode.NoContent, closed.StatusCode);
            Assert.False(closed.Headers.Contains("Access-Control-Allow-Origin"));
        }

        // A route without a policy (and no default policy): the preflight is the backend's to answer.
        using (var other = await SendAsync(app, HttpMethod.Options, "/other", AppOrigin, requestMethod: "GET", ct))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
            Assert.False(other.Headers.Contains("Access-Control-Allow-Origin"));
        }

        Assert.Equal([("PUT", "/api/items"), ("OPTIONS", "/other")], web.Requests.Select(r => (r.Method, r.Target)));
    }

    [Fact(Timeout = 30_000)]
    public async Task RouteCorsPolicy_WithoutTheCorsMiddleware_FailsTheRequest_NeverForwarded()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var web = await TestBackend.StartAsync("web");
        var options = Options(("/", "web", web.Address));
        options.Routes[0].CorsPolicy = "spa";
        await using var app = await EmbeddedApp.StartAsync(options, services: s => s.AddCors(cors => cors.AddPolicy("spa", p => p.WithOrigins(AppOrigin))));

        // ASP.NET Core's endpoint middleware refuses an endpoint whose CORS metadata no middleware read.
        using var response = await SendAsync(app, HttpMethod.Get, "/x", AppOrigin, requestMethod: null, ct);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Empty(web.Requests);
    }

    [Fact(Timeout = 30_000)]
    public async Task RouteCorsPolicy_TheApplicationLacks_IsRefusedAtStart_NamingEachKey()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var options = Options(("/a", "web", "127.0.0.1:1"), ("/b", "web", "127.0.0.1:1"), ("/c", "web", "127.0.0.1:1"));
        options.Routes[0].CorsPolicy = "nobody-defined-this";
        options.Routes[1].CorsPolicy = "Default";
        options.Routes[2].CorsPolicy = "Disable";

        var refused = await Assert.ThrowsAsync<ProxyConfigurationException>(() => EmbeddedApp.StartAsync(
            options,
            services: s => s.AddCors(cors => cors.AddPolicy("spa", p => p.WithOrigins(AppOrigin))),
            pipeline: a => a.UseCors()));

        Assert.Equal(
            [
                "Proxy:Routes:0:CorsPolicy: the application has no CORS policy named 'nobody-defined-this' (Default and Disable are the other choices).",
                "Proxy:Routes:1:CorsPolicy: the application has no default CORS policy (AddDefaultPolicy()).",
            ],
            refused.Errors);

        var disabled = Options(("/", "web", "127.0.0.1:1"));
        disabled.Routes[0].CorsPolicy = "Disable";
        var withoutCors = await Assert.ThrowsAsync<ProxyConfigurationException>(() => EmbeddedApp.StartAsync(disabled));
        Assert.Equal("Proxy:Routes:0:CorsPolicy: 'Disable' needs the application's CORS (AddCors()).", Assert.Single(withoutCors.Errors));
    }

    [Fact(Timeout = 30_000)]
    public async Task Reloads_NamingNewPolicies_KeepOnlyTheConfigurationInServicesEndpoints()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var web = await TestBackend.StartAsync("web");
        const int Reloads = 8;
        await using var app = await EmbeddedApp.StartAsync(
            Options(("/", "web", web.Address)),
            services: s => s.AddRateLimiter(limiter =>
            {
                for (var i = 0; i < Reloads; i++)
                {
                    limiter.AddFixedWindowLimiter($"window-{i}", w => { w.PermitLimit = 100; w.Window = TimeSpan.FromHours(1); });
                }
            }),
            pipeline: a => a.UseRateLimiter());
        var proxyEndpoint = app.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .Select(e => e.Metadata.GetMetadata<LoadBalancing.Proxy.Routing.ProxyEndpointMetadata>())
            .Single(m => m is { IsAdmin: false })!;

        for (var i = 0; i < Reloads; i++)
        {
            var next = Options(("/a", "web", web.Address), ("/", "web", web.Address));
            next.Routes[0].RateLimiterPolicy = $"window-{i}";
            next.Routes[1].RateLimiterPolicy = "Disable";
            Assert.Equal(ReloadOutcome.Applied, app.Runtime.Reload(next, [], "test").Outcome);

            Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, "/a", user: null, ct));
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(app, "/b", user: null, ct));
            Assert.Equal(2, proxyEndpoint.PolicyVariantCount);
        }

        Assert.Equal(2 * Reloads, web.Requests.Count);
    }

    private static Task<EmbeddedApp> StartWithCorsAsync(ProxyOptions options) =>
        EmbeddedApp.StartAsync(
            options,
            services: s => s.AddCors(cors => cors.AddPolicy("spa", p => p.WithOrigins(AppOrigin).WithMethods("GET", "PUT"))),
            pipeline: a => a.UseCors());

    private static async Task<HttpResponseMessage> SendAsync(EmbeddedApp app, HttpMethod method, string path, string origin, string? requestMethod, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Add("Origin", origin);
        if (requestMethod is not null)
        {
            request.Headers.Add("Access-Control-Request-Method", requestMethod);
        }

        return await app.Client.SendAsync(request, ct);
    }
}
