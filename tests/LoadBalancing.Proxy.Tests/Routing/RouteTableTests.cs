using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LoadBalancing.Proxy.Routing;
using LoadBalancing.Proxy.Tests.Support;
using System.Net;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Routing;

public sealed class RouteTableTests
{
    private static readonly RouteTable Table = Build(
        ("*", "/", "default"),
        ("*", "/api", "api"),
        ("*", "/api/admin/", "api-admin"),
        ("shop.example.com", "/", "shop"),
        ("shop.example.com", "/checkout", "checkout"),
        ("*.example.com", "/", "example-any"),
        ("*.eu.example.com", "/", "example-eu"));

    /// <summary>A table of answering routes named after their targets: matching needs no cluster.</summary>
    internal static RouteTable Build(params (string Host, string Path, string Name)[] routes) =>
        new([.. routes.Select((r, i) => new ProxyRoute(Route(r.Host, r.Path, r.Name), i, new Dictionary<string, Clusters.ProxyCluster>()))]);

    internal static ProxyRouteOptions Route(string host, string path, string name)
    {
        var route = new ProxyRouteOptions { Name = name, Path = path, DirectResponse = new DirectResponseOptions() };
        route.Hosts.Add(host);
        return route;
    }

    internal static HttpRequest Request(string host, string path, string method = "GET", string query = "")
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Headers.Host = host;
        context.Request.Path = path;
        context.Request.QueryString = new QueryString(query);
        return context.Request;
    }

    [Theory]
    [InlineData("other.org", "/", "default")]
    [InlineData("other.org", "/api", "api")]
    [InlineData("other.org", "/api/v1", "api")]
    [InlineData("other.org", "/apis", "default")] // whole segments only
    [InlineData("other.org", "/api/admin/users", "api-admin")]
    [InlineData("other.org", "/api/admin", "api-admin")] // a prefix's trailing slash is ignored (Gateway API)
    [InlineData("other.org", "/api/admins", "api")]
    [InlineData("shop.example.com", "/cart", "shop")]
    [InlineData("SHOP.Example.com:8443", "/checkout/pay", "checkout")] // case-insensitive host, port ignored
    [InlineData("shop.example.com.", "/", "shop")] // trailing dot
    [InlineData("a.example.com", "/", "example-any")]
    [InlineData("a.eu.example.com", "/", "example-eu")] // the longest suffix wins
    [InlineData("example.com", "/", "default")] // "*.example.com" needs a label before it
    [InlineData("[::1]:8080", "/api", "api")]
    public void Match_PicksTheMostSpecificRoute(string host, string path, string expected) =>
        Assert.Equal(expected, Table.Match(Request(host, path))?.Name);

    [Fact]
    public void Match_NoRoute_ReturnsNull()
    {
        var table = Build(("api.example.com", "/v1", "v1"));

        Assert.Null(table.Match(Request("api.example.com", "/v2")));
        Assert.Null(table.Match(Request("web.example.com", "/v1")));
    }

    [Theory]
    [InlineData("/items", "exact")]
    [InlineData("/items/42", "numbers")] // expressions in configuration order, before any prefix
    [InlineData("/items/abc", "any-item")]
    [InlineData("/items/", "any-item")]
    [InlineData("/itemsx", "prefix-i")] // no expression's literal start, no 'items' segment
    [InlineData("/other/items/42", "other")]
    public void Match_RegularExpressions_ComeAfterExactPathsAndBeforePrefixes(string path, string expected)
    {
        (string Path, PathMatchType Type, string Name)[] routes =
        [
            ("/items", PathMatchType.Prefix, "prefix"),
            ("/i", PathMatchType.Prefix, "prefix-i-segment"),
            ("/items/[0-9]+", PathMatchType.RegularExpression, "numbers"),
            ("/items/.*", PathMatchType.RegularExpression, "any-item"),
            ("/items", PathMatchType.Exact, "exact"),
            ("/it.+x", PathMatchType.RegularExpression, "prefix-i"),
            ("/", PathMatchType.Prefix, "other"),
        ];
        var table = new RouteTable([.. routes.Select((r, i) => new ProxyRoute(
            new ProxyRouteOptions { Name = r.Name, Path = r.Path, PathType = r.Type, DirectResponse = new DirectResponseOptions() },
            i,
            new Dictionary<string, Clusters.ProxyCluster>()))]);

        Assert.Equal(expected, table.Match(Request("example.com", path))?.Name);
    }

    [Property]
    public Property Match_AlwaysReturnsARouteWhosePrefixMatches(NonEmptyString segment)
    {
        // The table sees a decoded path (Kestrel decodes and refuses %00); '%' would make the test's own PathString
        // conversion decode the generated text, so it is left out with '?', which would start a query.
        var path = "/" + segment.Get.Replace("?", "", StringComparison.Ordinal).Replace("%", "", StringComparison.Ordinal);
        var matched = Table.Match(Request("other.org", path))?.Name;
        var expected = path is "/api" or "/api/admin" || path.StartsWith("/api/", StringComparison.Ordinal)
            ? (path == "/api/admin" || path.StartsWith("/api/admin/", StringComparison.Ordinal) ? "api-admin" : "api")
            : "default";
        return (matched == expected).Label($"{path} -> {matched}");
    }

    [Fact]
    public async Task NoMatchingRoute_Is404_WithAShortBody()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        options.Routes.Clear();
        options.Routes.Add(new ProxyRouteOptions { Hosts = { "api.example.com" }, Path = "/v1", Cluster = "web" });
        await using var proxy = await TestProxy.StartAsync(options);

        using var response = await proxy.Client.GetAsync("/v1", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("no route for this host and path\n", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Empty(backend.Requests);
        Assert.Equal(1, proxy.Runtime.NoRouteRequests);
    }

    [Fact]
    public async Task HostAndPathRoutes_SendToTheirClusters()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.2");
        await using var api = await TestBackend.StartAsync("api", "127.0.0.3");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, web.Address);
        var apiCluster = new ClusterOptions();
        apiCluster.Endpoints.Add(new EndpointOptions { Address = api.Address });
        options.Clusters["api"] = apiCluster;
        options.Routes.Add(new ProxyRouteOptions { Hosts = { "*.api.test" }, Path = "/", Cluster = "api" });
        options.Routes.Add(new ProxyRouteOptions { Path = "/api", Cluster = "api" });
        await using var proxy = await TestProxy.StartAsync(options);
        var ct = TestContext.Current.CancellationToken;

        async Task<string> Get(string host, string path)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Host = host;
            using var response = await proxy.Client.SendAsync(request, ct);
            return await response.Content.ReadAsStringAsync(ct);
        }

        Assert.Equal("web", await Get("site.test", "/"));
        Assert.Equal("api", await Get("site.test", "/api/users"));
        Assert.Equal("api", await Get("v2.api.test", "/anything"));
        Assert.Equal("web", await Get("site.test", "/apis"));
    }
}
