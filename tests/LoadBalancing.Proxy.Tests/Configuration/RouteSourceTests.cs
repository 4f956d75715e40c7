using System.Net;
using System.Text.Json;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Configuration;

/// <summary>
/// Routes and clusters from a route source (what a Kubernetes Ingress or Gateway API controller publishes) join the
/// configuration in service, are validated like it, and survive configuration reloads; a bad set changes nothing.
/// </summary>
public sealed class RouteSourceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void MergingASourcesRoutes_KeepsEveryProxyWideSetting()
    {
        // Every settable proxy-wide property gets a value other than its default, so one the merge forgets shows.
        var configured = new ProxyOptions();
        var settable = typeof(ProxyOptions).GetProperties().Where(p => p.CanWrite).ToArray();
        foreach (var property in settable)
        {
            var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            property.SetValue(configured, type switch
            {
                _ when type == typeof(string) => "zone-x",
                _ when type == typeof(long) => 7L,
                _ when type == typeof(TimeSpan) => TimeSpan.FromSeconds(3),
                { IsEnum: true } => Enum.GetValues(type).Cast<object>().Last(),
                _ => Activator.CreateInstance(type),
            });
        }

        var errors = new List<string>();
        var merged = RouteSourceMerge.Merge(configured, [("source", new ProxyRouteSet([], new Dictionary<string, ClusterOptions>()))], errors);

        Assert.Empty(errors);
        Assert.NotSame(configured, merged);
        Assert.All(settable, p => Assert.True(Equals(p.GetValue(configured), p.GetValue(merged)), $"ProxyOptions.{p.Name} is lost when a route source's routes are merged in"));
    }

    [Fact]
    public async Task PublishedRoutes_AreInService_AndLeaveWithTheNextSet()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.2");
        await using var shop = await TestBackend.StartAsync("shop", "127.0.0.3");
        var source = new TestRouteSource();
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, web.Address), configure: p => p.AddRouteSource(_ => source));
        Assert.Equal("web", await proxy.Client.GetStringAsync("/shop/cart", Ct));

        source.Publish(Set(Route("shop", "/shop", "source:shop"), ("source:shop", shop.Address)));

        Assert.Equal("shop", await proxy.Client.GetStringAsync("/shop/cart", Ct));
        Assert.Equal("web", await proxy.Client.GetStringAsync("/other", Ct));
        Assert.Equal(2, proxy.Runtime.Config.Generation);
        Assert.Equal("route source test", proxy.Runtime.Config.Source);
        using (var config = JsonDocument.Parse(await proxy.Admin.GetStringAsync("config", Ct)))
        {
            var routes = config.RootElement.GetProperty("configuration").GetProperty("Routes").EnumerateArray().Select(r => r.GetProperty("Path").GetString());
            Assert.Equal(["/", "/shop"], routes);
        }

        source.Publish(ProxyRouteSet.Empty);

        Assert.Equal("web", await proxy.Client.GetStringAsync("/shop/cart", Ct));
        Assert.DoesNotContain(proxy.Runtime.Clusters, c => c.Name == "source:shop");
    }

    [Fact]
    public async Task AnInvalidSet_IsRejectedWithItsOwnKeys_AndTheLastGoodSnapshotStays()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.2");
        await using var shop = await TestBackend.StartAsync("shop", "127.0.0.3");
        var source = new TestRouteSource();
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, web.Address), configure: p => p.AddRouteSource(_ => source));
        source.Publish(Set(Route("shop", "/shop", "source:shop"), ("source:shop", shop.Address)));

        source.Publish(Set(Route("broken", "shop", "source:shop"), ("source:shop", shop.Address)));
        Assert.Equal(["test:Routes:0:Path must start with '/'; got 'shop'."], proxy.Runtime.Status.Errors);

        source.Publish(Set(Route("shop", "/shop", "web"), ("web", shop.Address)));
        Assert.Equal(["test:Clusters:web: the configuration already defines a cluster of this name."], proxy.Runtime.Status.Errors);

        Assert.Equal(2, proxy.Runtime.Config.Generation);
        Assert.Equal("shop", await proxy.Client.GetStringAsync("/shop", Ct));
        using var config = JsonDocument.Parse(await proxy.Admin.GetStringAsync("config", Ct));
        Assert.Equal("route source test", config.RootElement.GetProperty("lastFailure").GetProperty("source").GetString());
    }

    [Fact]
    public async Task NoRoutesAndNoClusters_IsValidOnlyWithARouteSource()
    {
        var empty = new ProxyOptions();
        empty.Listeners.Add(new ListenerOptions { Url = "http://127.0.0.1:0" });
        var source = new TestRouteSource();

        var refused = await Assert.ThrowsAsync<ProxyConfigurationException>(() => TestProxy.StartAsync(empty));
        Assert.Contains("Proxy:Routes: at least one route is needed", Assert.Single(refused.Errors), StringComparison.Ordinal);

        await using var proxy = await TestProxy.StartAsync(empty, configure: p => p.AddRouteSource(_ => source));
        Assert.Equal(HttpStatusCode.NotFound, (await proxy.Client.GetAsync("/", Ct)).StatusCode);
    }

    [Fact]
    public async Task AConfigurationReload_KeepsTheSourcesRoutes()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.2");
        await using var shop = await TestBackend.StartAsync("shop", "127.0.0.3");
        var source = new TestRouteSource();
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, web.Address);
        await using var proxy = await TestProxy.StartAsync(options, configure: p => p.AddRouteSource(_ => source));
        source.Publish(Set(Route("shop", "/shop", "source:shop"), ("source:shop", shop.Address)));

        var reloaded = TestProxy.Options(LoadBalancingAlgorithm.LeastRequest, web.Address);
        var result = proxy.Runtime.Reload(reloaded, [], "test");

        Assert.Equal(ReloadOutcome.Applied, result.Outcome);
        Assert.Equal("shop", await proxy.Client.GetStringAsync("/shop", Ct));
        Assert.Equal(LoadBalancingAlgorithm.LeastRequest, proxy.Cluster("web").Options.Algorithm);
        Assert.Equal(ReloadOutcome.Unchanged, proxy.Runtime.Reload(reloaded, [], "test").Outcome);
    }

    [Fact]
    public async Task RequestsInFlight_FinishOnTheRouteTheyMatched_WhileASourcePublishes()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.2");
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var slow = await TestBackend.StartAsync("slow", "127.0.0.3", async context =>
        {
            arrived.TrySetResult();
            await release.Task;
            await context.Response.WriteAsync("slow");
        });
        var source = new TestRouteSource();
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, web.Address), configure: p => p.AddRouteSource(_ => source));
        source.Publish(Set(Route("slow", "/slow", "source:slow"), ("source:slow", slow.Address)));

        var pending = proxy.Client.GetStringAsync("/slow", Ct);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        source.Publish(ProxyRouteSet.Empty);
        release.SetResult();

        Assert.Equal("slow", await pending.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Equal(HttpStatusCode.OK, (await proxy.Client.GetAsync("/slow", Ct)).StatusCode); // now the configured "/" route: web
        Assert.Equal("web", await proxy.Client.GetStringAsync("/slow", Ct));
    }

    private static ProxyRouteOptions Route(string name, string path, string cluster) => new() { Name = name, Path = path, Cluster = cluster };

    private static ProxyRouteSet Set(ProxyRouteOptions route, (string Name, string Address) cluster)
    {
        var options = new ClusterOptions();
        options.Endpoints.Add(new EndpointOptions { Address = cluster.Address });
        return new ProxyRouteSet([route], new Dictionary<string, ClusterOptions> { [cluster.Name] = options });
    }

    private sealed class TestRouteSource() : ProxyRouteSource("test")
    {
        public new void Publish(ProxyRouteSet set) => base.Publish(set);
    }
}
