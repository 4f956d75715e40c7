using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LoadBalancing.Proxy.Routing;
using LoadBalancing.Proxy.Tests.Support;
using System.Net;

namespace LoadBalancing.Proxy.Tests.Routing;

public sealed class RouteTableTests
{
    private static readonly RouteTable<string> Table = new(
    [
        ("*", "/", "default"),
        ("*", "/api", "api"),
        ("*", "/api/admin/", "api-admin"),
        ("shop.example.com", "/", "shop"),
        ("shop.example.com", "/checkout", "checkout"),
        ("*.example.com", "/", "example-any"),
        ("*.eu.example.com", "/", "example-eu"),
    ]);

    [Theory]
    [InlineData("other.org", "/", "default")]
    [InlineData("other.org", "/api", "api")]
    [InlineData("other.org", "/api/v1", "api")]
    [InlineData("other.org", "/apis", "default")] // whole segments only
    [InlineData("other.org", "/api/admin/users", "api-admin")]
    [InlineData("other.org", "/api/admin", "api")] // "/api/admin/" needs the slash
    [InlineData("shop.example.com", "/cart", "shop")]
    [InlineData("SHOP.Example.com:8443", "/checkout/pay", "checkout")] // case-insensitive host, port ignored
    [InlineData("shop.example.com.", "/", "shop")] // trailing dot
    [InlineData("a.example.com", "/", "example-any")]
    [InlineData("a.eu.example.com", "/", "example-eu")] // the longest suffix wins
    [InlineData("example.com", "/", "default")] // "*.example.com" needs a label before it
    [InlineData("[::1]:8080", "/api", "api")]
    public void Match_PicksTheMostSpecificRoute(string host, string path, string expected) =>
        Assert.Equal(expected, Table.Match(host, path));

    [Fact]
    public void Match_NoRoute_ReturnsNull()
    {
        var table = new RouteTable<string>([("api.example.com", "/v1", "v1")]);

        Assert.Null(table.Match("api.example.com", "/v2"));
        Assert.Null(table.Match("web.example.com", "/v1"));
    }

    [Property]
    public Property Match_AlwaysReturnsARouteWhosePrefixMatches(NonEmptyString segment)
    {
        var path = "/" + segment.Get.Replace("?", "", StringComparison.Ordinal);
        var matched = Table.Match("other.org", path);
        var expected = path == "/api" || path.StartsWith("/api/", StringComparison.Ordinal)
            ? (path.StartsWith("/api/admin/", StringComparison.Ordinal) ? "api-admin" : "api")
            : "default";
        return (matched == expected).Label($"{path} -> {matched}");
    }

    [Fact]
    public async Task NoMatchingRoute_Is404_WithAShortBody()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        options.Routes.Clear();
        options.Routes.Add(new RouteOptions { Host = "api.example.com", Path = "/v1", Cluster = "web" });
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
        options.Routes.Add(new RouteOptions { Host = "*.api.test", Path = "/", Cluster = "api" });
        options.Routes.Add(new RouteOptions { Path = "/api", Cluster = "api" });
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
