using System.Net;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Routing;

/// <summary>
/// One real proxy with many routes, each forwarding to one real backend and stamping its name on the request
/// (<c>x-route</c>, set by the route's RequestHeaders); the backend answers with the stamp it received, so each
/// test reads which route a request took end to end. Routes are grouped by host so the groups cannot interfere.
/// </summary>
public sealed class RouteMatchingTests(RouteMatchingTests.Fixture fixture) : IClassFixture<RouteMatchingTests.Fixture>
{
    // ---- Hosts -------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("api.example.com", "/", "host-exact")]
    [InlineData("API.Example.COM:8080", "/x", "host-exact")] // case-insensitive, port ignored
    [InlineData("web.example.com", "/", "host-suffix")]
    [InlineData("a.b.example.com", "/", "host-suffix")] // a suffix covers any depth of labels
    [InlineData("x.eu.example.com", "/", "host-suffix-eu")] // the longest suffix wins
    [InlineData("eu.example.com", "/", "host-suffix")] // "*.eu.example.com" needs a label before ".eu"
    [InlineData("example.com", "/", "any")] // "*.example.com" does not match the bare domain
    [InlineData("a.multi.test", "/", "multi")] // a route with several hosts matches each
    [InlineData("B.MULTI.test", "/", "multi")]
    [InlineData("c.multi.test", "/", "any")]
    [InlineData("unknown.test", "/", "any")]
    [InlineData("fallback.example.com", "/only", "fallback-exact")]
    [InlineData("fallback.example.com", "/other", "host-suffix")] // no route of the exact host matches: the suffix host's does
    [InlineData("fallback.example.com", "/only/deeper", "fallback-exact")]
    [InlineData("strict.test", "/only-this", "strict")]
    [InlineData("strict.test", "/elsewhere", "any")] // an exact host with no matching route falls back to any host
    public Task Host(string host, string path, string expected) => Expect(expected, host, path);

    // ---- Paths -------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("/exact", "p-exact")]
    [InlineData("/exact/", "p-prefix-exact")] // an exact path does not match with a trailing slash
    [InlineData("/exact/x", "p-prefix-exact")]
    [InlineData("/EXACT", "p-root")] // paths are case-sensitive
    [InlineData("/api", "p-api")] // prefix "/api/" (its trailing slash ignored)
    [InlineData("/api/", "p-api")]
    [InlineData("/api/v1/users", "p-api")]
    [InlineData("/apis", "p-root")] // whole segments only
    [InlineData("/api-v2", "p-root")]
    [InlineData("/items/42", "p-regex")]
    [InlineData("/items/42/x", "p-items")] // a regular expression must match the whole path
    [InlineData("/items/4a", "p-items")]
    [InlineData("/x/items/42", "p-root")] // ... from its first character
    [InlineData("/items/7", "p-items-7")] // exact beats regular expression
    [InlineData("/deep/a/b", "p-regex-deep")] // regular expression beats even the longest prefix
    [InlineData("/deeper", "p-root")]
    [InlineData("/r/abc", "p-regex-first")] // regular expressions in configuration order, not by specificity
    [InlineData("/caf%C3%A9", "p-decoded")] // matched percent-decoded
    [InlineData("/", "p-root")]
    public Task Path(string path, string expected) => Expect(expected, "paths.test", path);

    // ---- Methods -----------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("GET", "/m", "m-plain")]
    [InlineData("POST", "/m", "m-write")] // a method route beats a plain one on the same path, whatever their order
    [InlineData("PUT", "/m", "m-write")]
    [InlineData("DELETE", "/m", "m-plain")]
    [InlineData("POST", "/only-post", "m-only-post")]
    [InlineData("GET", "/only-post", "m-root")] // its condition fails: the next shorter prefix is tried
    [InlineData("POST", "/only-post/x", "m-only-post")]
    public Task Method(string method, string path, string expected) =>
        Expect(expected, "methods.test", path, method);

    [Theory]
    [InlineData("/m", "origin: https://app.test|access-control-request-method: PUT", "m-write")] // where the PUT will go
    [InlineData("/m", "origin: https://app.test|access-control-request-method: DELETE", "m-plain")]
    [InlineData("/m", "access-control-request-method: PUT", "m-plain")] // no Origin: not a preflight
    [InlineData("/only-post", "origin: https://app.test|access-control-request-method: POST", "m-only-post")]
    [InlineData("/only-post", "origin: https://app.test|access-control-request-method: GET", "m-root")]
    [InlineData("/only-post", "origin: https://app.test", "m-root")]
    [InlineData("/only-post", "origin: https://app.test|access-control-request-method: post", "m-root")] // methods are case-sensitive
    [InlineData("/gateway", "origin: https://app.test|access-control-request-method: POST", "m-root")] // an HTTPRoute matches methods exactly
    [InlineData("/gateway/x", "origin: https://app.test|access-control-request-method: OPTIONS", "m-gateway-options")]
    public Task CorsPreflight(string path, string headers, string expected) =>
        Expect(expected, "methods.test", path, "OPTIONS", headers);

    // ---- Headers -----------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("/h", "", "h-plain")]
    [InlineData("/h", "x-env: canary", "h-exact")] // the route names it "X-Env": header names are case-insensitive
    [InlineData("/h", "X-ENV: canary", "h-exact")]
    [InlineData("/h", "x-env: Canary", "h-plain")] // values are not
    [InlineData("/h", "x-env: canary-2", "h-plain")]
    [InlineData("/h", "x-env: canary|x-beta: 1", "h-two")] // more header conditions win
    [InlineData("/h", "x-beta: 1", "h-plain")]
    [InlineData("/h", "x-version: v12", "h-regex")]
    [InlineData("/h", "x-version: v12a", "h-plain")] // anchored
    [InlineData("/h", "x-version: av1", "h-plain")]
    [InlineData("/h", "x-env: canary|x-version: v1", "h-exact")] // one condition each: configuration order
    [InlineData("/absent", "", "h-absent")]
    [InlineData("/absent", "x-debug: 1", "h-root")]
    [InlineData("/absent", "X-Debug: 1", "h-root")]
    public Task Header(string path, string headers, string expected) =>
        Expect(expected, "headers.test", path, headers: headers);

    // ---- Query parameters --------------------------------------------------------------------------------------

    [Theory]
    [InlineData("/q?q=a%20b", "q-exact")] // compared decoded
    [InlineData("/q?q=a+b", "q-exact")] // '+' is a space in a query
    [InlineData("/q?x=1&q=a%20b", "q-exact")]
    [InlineData("/q?q=a%20bc", "q-plain")]
    [InlineData("/q?Q=a%20b", "q-plain")] // parameter names are case-sensitive
    [InlineData("/q?id=123", "q-regex")]
    [InlineData("/q?id=12x", "q-plain")] // anchored
    [InlineData("/q?id=%31%32", "q-regex")] // "12", decoded
    [InlineData("/q?debug", "q-present")]
    [InlineData("/q?debug=", "q-present")]
    [InlineData("/q?debug=0", "q-present")]
    [InlineData("/q?debugger=1", "q-plain")]
    [InlineData("/q", "q-plain")]
    [InlineData("/qa", "q-absent")]
    [InlineData("/qa?legacy=1", "q-root")]
    [InlineData("/q2?a=1", "q2-one")]
    [InlineData("/q2?a=1&b=2", "q2-two")] // more query conditions win
    [InlineData("/q2?b=2", "q-root")]
    public Task Query(string target, string expected) => Expect(expected, "query.test", target);

    // ---- Tie-breakers across kinds of condition ----------------------------------------------------------------

    [Theory]
    [InlineData("GET", "/t?x&y", "x-h: 1", "t-method")] // a method condition beats header and query conditions
    [InlineData("POST", "/t?x&y", "x-h: 1", "t-header")] // a header condition beats two query conditions
    [InlineData("POST", "/t?x&y", "", "t-query")]
    [InlineData("POST", "/t?x", "", "t-first")] // nothing beyond the path: the first in configuration
    public Task TieBreak(string method, string target, string headers, string expected) =>
        Expect(expected, "ties.test", target, method, headers);

    private async Task Expect(string expected, string host, string target, string method = "GET", string headers = "")
    {
        using var response = await fixture.SendAsync(host, target, method, headers);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expected, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    public sealed class Fixture : IAsyncLifetime
    {
        internal TestBackend Backend { get; private set; } = null!;

        internal TestProxy Proxy { get; private set; } = null!;

        public async ValueTask InitializeAsync()
        {
            Backend = await TestBackend.StartAsync("routes", "127.0.0.2", context => context.Response.WriteAsync(context.Request.Headers["x-route"].ToString()));
            var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, Backend.Address);
            options.Routes.Clear();

            // Hosts.
            Add(options, "host-exact", hosts: ["api.example.com"]);
            Add(options, "host-suffix", hosts: ["*.example.com"]);
            Add(options, "host-suffix-eu", hosts: ["*.eu.example.com"]);
            Add(options, "multi", hosts: ["a.multi.test", "b.multi.test"]);
            Add(options, "fallback-exact", hosts: ["fallback.example.com"], path: "/only");
            Add(options, "any");

            // Paths.
            string[] paths = ["paths.test"];
            Add(options, "p-root", paths);
            Add(options, "p-prefix-exact", paths, "/exact");
            Add(options, "p-exact", paths, "/exact", PathMatchType.Exact);
            Add(options, "p-api", paths, "/api/");
            Add(options, "p-items", paths, "/items");
            Add(options, "p-regex", paths, "/items/[0-9]+", PathMatchType.RegularExpression);
            Add(options, "p-items-7", paths, "/items/7", PathMatchType.Exact);
            Add(options, "p-prefix-deep", paths, "/deep/a/b");
            Add(options, "p-regex-deep", paths, "/deep/.*", PathMatchType.RegularExpression);
            Add(options, "p-regex-first", paths, "/r/.*", PathMatchType.RegularExpression);
            Add(options, "p-regex-second", paths, "/r/abc", PathMatchType.RegularExpression);
            Add(options, "p-decoded", paths, "/café", PathMatchType.Exact);

            // Methods.
            string[] methods = ["methods.test"];
            Add(options, "m-root", methods);
            Add(options, "m-plain", methods, "/m");
            Add(options, "m-write", methods, "/m").Methods.AddRange("POST", "PUT");
            Add(options, "m-only-post", methods, "/only-post").Methods.Add("POST");
            var gateway = Add(options, "m-gateway", methods, "/gateway");
            gateway.Methods.Add("POST");
            gateway.Origin = new RouteOrigin("HTTPRoute", "default", "web");
            var gatewayOptions = Add(options, "m-gateway-options", methods, "/gateway/x");
            gatewayOptions.Methods.Add("OPTIONS");
            gatewayOptions.Origin = new RouteOrigin("HTTPRoute", "default", "web");

            // Headers.
            string[] headers = ["headers.test"];
            Add(options, "h-root", headers);
            Add(options, "h-plain", headers, "/h");
            Add(options, "h-exact", headers, "/h").Headers.Add(new ValueMatchOptions { Name = "X-Env", Value = "canary" });
            var two = Add(options, "h-two", headers, "/h");
            two.Headers.Add(new ValueMatchOptions { Name = "x-env", Value = "canary" });
            two.Headers.Add(new ValueMatchOptions { Name = "x-beta", Type = ValueMatchType.Present });
            Add(options, "h-regex", headers, "/h").Headers.Add(new ValueMatchOptions { Name = "x-version", Value = "v[0-9]+", Type = ValueMatchType.RegularExpression });
            Add(options, "h-absent", headers, "/absent").Headers.Add(new ValueMatchOptions { Name = "x-debug", Type = ValueMatchType.Absent });

            // Query parameters.
            string[] query = ["query.test"];
            Add(options, "q-root", query);
            Add(options, "q-plain", query, "/q");
            Add(options, "q-exact", query, "/q").QueryParameters.Add(new ValueMatchOptions { Name = "q", Value = "a b" });
            Add(options, "q-regex", query, "/q").QueryParameters.Add(new ValueMatchOptions { Name = "id", Value = "[0-9]+", Type = ValueMatchType.RegularExpression });
            Add(options, "q-present", query, "/q").QueryParameters.Add(new ValueMatchOptions { Name = "debug", Type = ValueMatchType.Present });
            Add(options, "q-absent", query, "/qa").QueryParameters.Add(new ValueMatchOptions { Name = "legacy", Type = ValueMatchType.Absent });
            Add(options, "q2-one", query, "/q2").QueryParameters.Add(new ValueMatchOptions { Name = "a", Type = ValueMatchType.Present });
            var q2 = Add(options, "q2-two", query, "/q2");
            q2.QueryParameters.Add(new ValueMatchOptions { Name = "a", Type = ValueMatchType.Present });
            q2.QueryParameters.Add(new ValueMatchOptions { Name = "b", Type = ValueMatchType.Present });

            // Tie-breakers: configured from the weakest claim to the strongest, so configuration order alone would pick wrongly.
            string[] ties = ["ties.test"];
            Add(options, "t-first", ties, "/t");
            var tq = Add(options, "t-query", ties, "/t");
            tq.QueryParameters.Add(new ValueMatchOptions { Name = "x", Type = ValueMatchType.Present });
            tq.QueryParameters.Add(new ValueMatchOptions { Name = "y", Type = ValueMatchType.Present });
            Add(options, "t-header", ties, "/t").Headers.Add(new ValueMatchOptions { Name = "x-h", Type = ValueMatchType.Present });
            Add(options, "t-method", ties, "/t").Methods.Add("GET");

            Add(options, "strict", ["strict.test"], "/only-this");

            Proxy = await TestProxy.StartAsync(options);
        }

        internal async Task<HttpResponseMessage> SendAsync(string host, string target, string method, string headers)
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), target);
            request.Headers.Host = host;
            foreach (var header in headers.Split('|', StringSplitOptions.RemoveEmptyEntries))
            {
                var colon = header.IndexOf(':', StringComparison.Ordinal);
                request.Headers.TryAddWithoutValidation(header[..colon].Trim(), header[(colon + 1)..].Trim());
            }

            return await Proxy.Client.SendAsync(request, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        }

        private static ProxyRouteOptions Add(ProxyOptions options, string name, string[]? hosts = null, string path = "/", PathMatchType type = PathMatchType.Prefix)
        {
            var route = new ProxyRouteOptions { Name = name, Path = path, PathType = type, Cluster = "web" };
            foreach (var host in hosts ?? [])
            {
                route.Hosts.Add(host);
            }

            route.RequestHeaders = new HeaderModifierOptions();
            route.RequestHeaders.Set.Add(new HeaderValueOptions { Name = "x-route", Value = name });
            options.Routes.Add(route);
            return route;
        }

        public async ValueTask DisposeAsync()
        {
            await Proxy.DisposeAsync();
            await Backend.DisposeAsync();
        }
    }
}

internal static class RouteTestListExtensions
{
    public static void AddRange<T>(this IList<T> list, params T[] items)
    {
        foreach (var item in items)
        {
            list.Add(item);
        }
    }
}
