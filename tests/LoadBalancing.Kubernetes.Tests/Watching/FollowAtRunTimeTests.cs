using LoadBalancing.Kubernetes.Tests.Support;
using static LoadBalancing.Kubernetes.Tests.Support.Slices;

namespace LoadBalancing.Kubernetes.Tests.Watching;

/// <summary>
/// A Service asked for after discovery started (a reload adds a cluster, a route names a new backend) is followed from
/// then on: listed, published, watched and confirmed like the Services configured at start, without a restart.
/// </summary>
public sealed class FollowAtRunTimeTests
{
    [Fact]
    public async Task AnotherServiceOfAFollowedNamespace_IsListedPublishedAndWatched()
    {
        await using var h = await Harness.CreateAsync();
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        h.Server.Apply(h.Namespace, Slice("api-1", "api", [new(["10.0.1.1"])]));
        await h.StartAsync();
        var web = await h.Source().WaitForAsync(s => s.Count == 1, "web's pod");
        var webState = web.States[0];

        var api = h.Discovery.GetSource(h.Namespace, "api", "http");
        await api.WaitForAsync(s => s.Count == 1, "api's pod, from the list that follows it");
        h.Server.Apply(h.Namespace, Slice("api-2", "api", [new(["10.0.1.2"])]));
        var both = await api.WaitForAsync(s => s.Count == 2, "api's second pod, through the watch");

        Assert.Equal(["10.0.1.1:8080", "10.0.1.2:8080"], both.Addresses());
        Assert.Contains("api", h.Discovery.Watcher(h.Namespace)!.Services!);
        Assert.Same(webState, h.Source().Current.States[0]); // web's endpoint kept its state through the relist
    }

    [Fact]
    public async Task ServicesFollowedWhileAListIsUnderWay_AreAllListed()
    {
        await using var h = await Harness.CreateAsync();
        for (var i = 0; i < 6; i++)
        {
            h.Server.Apply(h.Namespace, Slice($"svc{i}-1", $"svc{i}", [new([$"10.0.3.{i + 1}"])]));
        }

        await h.StartAsync();

        // Each follow asks for a list; those that land while one is running (or before the next watch opens) must
        // still get theirs, not wait for the watch to end minutes later.
        var sources = Enumerable.Range(0, 6).Select(i => h.Discovery.GetSource(h.Namespace, $"svc{i}", "http")).ToArray();
        foreach (var source in sources)
        {
            await source.WaitForAsync(s => s.Count == 1, source.Name + "'s pod");
        }
    }

    [Fact]
    public async Task AServiceOfANewNamespace_GetsItsOwnLoops()
    {
        await using var h = await Harness.CreateAsync();
        var other = "other-" + Guid.NewGuid().ToString("N")[..6];
        h.Server.Apply(other, Slice("shop-1", "shop", [new(["10.2.0.1"])]));
        await h.StartAsync();

        var shop = await h.Discovery.GetSource(other, "shop", "http").WaitForAsync(s => s.Count == 1, "shop's pod in a namespace followed at run time");
        h.Server.Apply(other, Slice("shop-2", "shop", [new(["10.2.0.2"])]));
        await h.Discovery.GetSource(other, "shop", "http").WaitForAsync(s => s.Count == 2, "shop's second pod, through the new namespace's watch");

        Assert.Equal(["10.2.0.1:8080"], shop.Addresses());
        var freshness = Assert.Single(h.Discovery.Freshness, f => f.Namespace == other);
        Assert.NotEqual(ViewStatus.Wedged, freshness.Status);
        Assert.Null(h.Discovery.Wedged());
    }

    [Fact]
    public async Task AServiceWithoutEndpoints_IsPublishedEmptyAndConfirmed_NotLeftNeverSynced()
    {
        await using var h = await Harness.CreateAsync();
        h.Server.Apply(h.Namespace, Slice("api-1", "api", [new(["10.0.1.1"])]));
        await h.StartAsync();

        var ghost = h.Discovery.GetSource(h.Namespace, "ghost", "http");
        var api = h.Discovery.GetSource(h.Namespace, "api", "http");
        await api.WaitForAsync(s => s.Count == 1, "api's pod, from the list that covers both");
        await h.Discovery.PublishedAsync().WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);

        Assert.Empty(ghost.Current.Endpoints);
        Assert.NotNull(ghost.Staleness());
    }
}
