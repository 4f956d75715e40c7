using LoadBalancing.Kubernetes.Tests.Support;
using static LoadBalancing.Kubernetes.Tests.Support.Slices;

namespace LoadBalancing.Kubernetes.Tests.Watching;

/// <summary>The real KubernetesClient against the fake API server: list, then watch, and every way a watch ends.</summary>
public sealed class ListAndWatchTests
{
    [Fact]
    public async Task ListThenWatch_FollowsAddsChangesAndDeletes()
    {
        await using var h = await Harness.CreateAsync();
        h.Server.Apply(h.Namespace, Slice("web-abc", "web", [new(["10.0.0.1"]), new(["10.0.0.2"])]));
        await h.StartAsync();
        var source = h.Source();
        await source.WaitForAsync(s => s.Count == 2, "the two listed pods");

        h.Server.Apply(h.Namespace, Slice("web-def", "web", [new(["10.0.0.3"])]));
        await source.WaitForAsync(s => s.Count == 3, "three pods after ADDED");

        h.Server.Apply(h.Namespace, Slice("web-abc", "web", [new(["10.0.0.1"]), new(["10.0.0.2"], Ready: false, Serving: true, Terminating: true)]));
        var set = await source.WaitForAsync(s => s.Endpoints.Any(e => e.Conditions.HasFlag(EndpointConditions.Terminating)), "one pod terminating after MODIFIED");
        Assert.Equal(EndpointConditions.Serving | EndpointConditions.Terminating, set.Endpoints.Single(e => e.Address == "10.0.0.2").Conditions);

        h.Server.Delete(h.Namespace, "web-abc");
        set = await source.WaitForAsync(s => s.Count == 1, "one pod after DELETED");
        Assert.Equal(["10.0.0.3:8080"], set.Addresses());
        Assert.Equal(1, h.Counter("lb.kubernetes.relists"));
    }

    [Fact]
    public async Task StartAsync_Returns_WithTheFirstListAlreadyInTheSources()
    {
        // The publisher rests between rounds; asking for the source publishes its (empty) set at once, so the
        // listed pods wait for the next round. A host that took requests when the list was merely received
        // would answer 503 with its endpoints in hand (seen once in CI before StartAsync waited for them).
        await using var h = await Harness.CreateAsync(o => o.MinPublishInterval = TimeSpan.FromMilliseconds(200));
        h.Server.Apply(h.Namespace, Slice("web-abc", "web", [new(["10.0.0.1"]), new(["10.0.0.2"])]));
        var source = h.Source();

        await h.Discovery.StartAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);

        Assert.Equal(["10.0.0.1:8080", "10.0.0.2:8080"], source.Current.Addresses());
    }

    [Fact]
    public async Task OtherServicesSlices_AreNotFollowed()
    {
        await using var h = await Harness.CreateAsync();
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        h.Server.Apply(h.Namespace, Slice("db-1", "db", [new(["10.0.9.9"])]));
        await h.StartAsync();

        var set = await h.Source().WaitForAsync(s => s.Count == 1, "web's pod only");
        var watch = await h.NextRequestAsync(watch: true);

        Assert.Equal(["10.0.0.1:8080"], set.Addresses());
        Assert.Equal("kubernetes.io/service-name in (web)", watch.LabelSelector);
    }

    [Fact]
    public async Task Watch_AsksForBookmarks_WithARandomisedTimeout_FromTheListVersion()
    {
        await using var h = await Harness.CreateAsync();
        var listVersion = h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        await h.StartAsync();

        var list = await h.NextRequestAsync(watch: false);
        var watch = await h.NextRequestAsync(watch: true);

        Assert.Null(list.ResourceVersion);
        Assert.True(watch.Bookmarks, "allowWatchBookmarks=true was not asked for");
        Assert.InRange(watch.TimeoutSeconds ?? 0, 300, 600);
        Assert.Equal(listVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), watch.ResourceVersion);
    }

    [Fact]
    public async Task ResourceVersion_AdvancesOnEventsAndBookmarks_AndADroppedWatchResumesFromIt()
    {
        await using var h = await Harness.CreateAsync();
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        await h.StartAsync();
        await h.NextRequestAsync(watch: true);

        h.Server.Apply(h.Namespace, Slice("web-2", "web", [new(["10.0.0.2"])]));
        await h.Source().WaitForAsync(s => s.Count == 2, "the added pod");
        var bookmark = h.Server.Bookmark(h.Namespace);
        h.Server.Bookmark("some-other-namespace"); // not ours: must not move our version

        // Once the bookmark has been read, cut the connection: the next watch must start from it.
        await h.WhenCounterAsync("lb.kubernetes.watch.events|type=bookmark");
        h.Server.DropActiveWatches();
        var resumed = await h.NextRequestAsync(watch: true);
        h.Server.Apply(h.Namespace, Slice("web-3", "web", [new(["10.0.0.3"])]));

        Assert.True(long.Parse(resumed.ResourceVersion!, System.Globalization.CultureInfo.InvariantCulture) >= bookmark);
        await h.Source().WaitForAsync(s => s.Count == 3, "three pods after the reconnect");
    }

    [Fact]
    public async Task DroppedWatch_Reconnects_AndMissesNothing()
    {
        await using var h = await Harness.CreateAsync();
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        h.Server.FailNextWatch(Fault.Drop);
        await h.StartAsync();
        await h.NextRequestAsync(watch: true); // dropped at once

        h.Server.Apply(h.Namespace, Slice("web-2", "web", [new(["10.0.0.2"])]));
        await h.Source().WaitForAsync(s => s.Count == 2, "two pods after the reconnect");
    }

    [Fact]
    public async Task ExpiredResourceVersion_Relists_AndRemovesSlicesThatDisappeared()
    {
        await using var h = await Harness.CreateAsync();
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        h.Server.Apply(h.Namespace, Slice("web-2", "web", [new(["10.0.0.2"])]));
        await h.StartAsync();
        await h.Source().WaitForAsync(s => s.Count == 2, "two listed pods");
        await h.NextRequestAsync(watch: true);

        // A slice goes without an event and history is compacted; the watch is cut and resumes from a version the
        // server no longer has: 410, and only a relist can tell that web-2 is gone.
        h.Server.Delete(h.Namespace, "web-2", silently: true);
        h.Server.ApplySilently(h.Namespace, Slice("web-3", "web", [new(["10.0.0.3"])]));
        h.Server.Compact();
        h.Server.DropActiveWatches();

        var set = await h.Source().WaitForAsync(s => s.Count == 2 && s.Endpoints.All(e => e.Address != "10.0.0.2"), "web-2 gone after the relist");
        Assert.Equal(["10.0.0.1:8080", "10.0.0.3:8080"], set.Addresses());
        Assert.True(h.Counter("lb.kubernetes.watch.restarts|cause=expired") >= 1);
        Assert.True(h.Counter("lb.kubernetes.relists") >= 2);
    }

    [Fact]
    public async Task ErrorStatusLine_IsHandled_NotLost()
    {
        await using var h = await Harness.CreateAsync();
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        await h.StartAsync();
        await h.NextRequestAsync(watch: true);

        h.Server.SendRawLine(h.Namespace, """{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (2)","reason":"Expired","code":410}}""");

        await h.NextRequestAsync(watch: false); // a relist follows the 410
        Assert.Equal(1, h.Counter("lb.kubernetes.watch.restarts|cause=expired"));
        Assert.Equal(1, h.Counter("lb.kubernetes.watch.events|type=error"));
    }

    [Fact]
    public async Task SlowServer_StillConverges()
    {
        await using var h = await Harness.CreateAsync();
        h.Server.LineDelay = TimeSpan.FromMilliseconds(50);
        await h.StartAsync();
        for (var i = 1; i <= 5; i++)
        {
            h.Server.Apply(h.Namespace, Slice($"web-{i}", "web", [new([$"10.0.0.{i}"])]));
        }

        await h.Source().WaitForAsync(s => s.Count == 5, "five pods through a slow stream");
    }

    [Fact]
    public async Task WholeNamespace_FollowsEveryService()
    {
        var server = await FakeApiServer.StartAsync();
        await using var h = await Harness.CreateAsync(services: [], server: server, configure: o => o.Namespaces.Add("team-a"));
        server.Apply("team-a", Slice("api-1", "api", [new(["10.1.0.1"])], [("grpc", 9000)]));
        server.Apply("team-a", Slice("ui-1", "ui", [new(["10.1.0.2"])], [(null, 3000)]));
        await h.StartAsync();

        var api = await h.Discovery.GetSource("team-a", "api", "grpc").WaitForAsync(s => s.Count == 1, "api's pod");
        var ui = await h.Discovery.GetSource("team-a", "ui").WaitForAsync(s => s.Count == 1, "ui's pod on its only port");

        Assert.Equal(["10.1.0.1:9000"], api.Addresses());
        Assert.Equal(["10.1.0.2:3000"], ui.Addresses());
    }
}
