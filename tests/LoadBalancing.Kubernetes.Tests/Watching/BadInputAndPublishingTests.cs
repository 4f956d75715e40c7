using System.Text.Json.Nodes;
using LoadBalancing.Kubernetes.Tests.Support;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using static LoadBalancing.Kubernetes.Tests.Support.Slices;

namespace LoadBalancing.Kubernetes.Tests.Watching;

public sealed class BadInputAndPublishingTests
{
    [Fact]
    public async Task MalformedObjectsAndLines_AreSkippedAndCounted_NeverWipingTheLastGoodList()
    {
        await using var h = await Harness.CreateAsync();
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"]), new(["10.0.0.2"])]));
        await h.StartAsync();
        await h.Source().WaitForAsync(s => s.Count == 2, "the two listed pods");
        await h.NextRequestAsync(watch: true);

        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["not-an-ip"])])); // MODIFIED, malformed
        h.Server.SendRawLine(h.Namespace, "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":");
        h.Server.SendRawLine(h.Namespace, "not json at all");
        h.Server.Apply(h.Namespace, Slice("web-2", "web", [new(["10.0.0.3"])])); // a good one after the bad ones

        var set = await h.Source().WaitForAsync(s => s.Count == 3, "web-1's good version plus web-2");
        Assert.Equal(["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"], set.Addresses());
        Assert.Equal(3, h.Counter("lb.kubernetes.malformed.objects"));
        Assert.Equal(0, h.Counter("lb.kubernetes.watch.restarts|cause=error")); // the watch carried on
    }

    [Fact]
    public async Task ListWithAWrongTypedItem_AppliesEveryOtherItem_AndTheNamespaceKeepsUpdating()
    {
        await using var h = await Harness.CreateAsync(services: ["web", "api"]);
        var odd = Slice("web-odd", "web", [new(["10.0.0.9"])]);
        odd["ports"]![0]!["port"] = "8080"; // a string where the API has an integer: unreadable as an EndpointSlice
        h.Server.Apply(h.Namespace, odd);
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        h.Server.Apply(h.Namespace, Slice("api-1", "api", [new(["10.0.1.1"])]));
        await h.StartAsync();

        Assert.True(h.Source().Current.Addresses().SequenceEqual(["10.0.0.1:8080"]), "Promise broken: one unreadable item kept the rest of the list from being applied.");
        Assert.Equal(["10.0.1.1:8080"], h.Source("api").Current.Addresses());
        Assert.True(h.Counter("lb.kubernetes.malformed.objects") >= 1);

        // The watch goes on delivering every other object's changes, at once.
        h.Server.Apply(h.Namespace, Slice("api-1", "api", [new(["10.0.1.2"])]));
        h.Server.SendRawLine(h.Namespace, "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"web-odd\"},\"ports\":[{\"port\":\"x\"}]}}");
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.2"])]));
        await h.Source("api").WaitForAsync(s => s.Addresses().SequenceEqual(["10.0.1.2:8080"]), "api's change next to an unreadable object");
        await h.Source().WaitForAsync(s => s.Addresses().SequenceEqual(["10.0.0.2:8080"]), "web's change after an unreadable line");
        Assert.Equal(0, h.Counter("lb.kubernetes.watch.restarts|cause=error"));
        Assert.True(h.Counter("lb.kubernetes.malformed.objects") >= 2, "Promise broken: the unreadable watch line was not counted as malformed.");
    }

    [Fact]
    public async Task MalformedSliceInARelist_KeepsItsPreviousVersion()
    {
        await using var h = await Harness.CreateAsync();
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        await h.StartAsync();
        await h.Source().WaitForAsync(s => s.Count == 1, "the listed pod");

        var broken = Slice("web-1", "web", [new(["10.0.0.1"])]);
        broken["addressType"] = "Carrier-Pigeon";
        h.Server.ApplySilently(h.Namespace, broken);
        h.Server.Compact();
        h.Server.DropActiveWatches(); // resume -> 410 -> relist that contains the broken slice

        await h.WhenCounterAsync("lb.kubernetes.relists", 2);
        Assert.Equal(["10.0.0.1:8080"], h.Source().Current.Addresses());
        Assert.True(h.Counter("lb.kubernetes.malformed.objects") >= 1);
    }

    [Fact]
    public async Task PublicationThatThrows_IsCountedAndLogged_AndLaterChangesStillArrive()
    {
        // A subscriber that throws (a bug anywhere downstream) must not end the publisher's loop: that would stop
        // every Service's updates for good while the watches still look healthy.
        await using var h = await Harness.CreateAsync(services: ["web", "other"]);
        var web = h.Source();
        var other = h.Source("other");
        var thrown = 0;
        using var _ = web.Subscribe(set =>
        {
            if (set.Count == 1 && Interlocked.Exchange(ref thrown, 1) == 0)
            {
                throw new InvalidOperationException("a downstream bug");
            }
        });
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        await h.StartAsync();
        await h.WhenCounterAsync($"lb.kubernetes.publish.failures|service={h.Namespace}/web:http");

        h.Server.Apply(h.Namespace, Slice("other-1", "other", [new(["10.0.1.1"])]));
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"]), new(["10.0.0.2"])]));

        await other.WaitForAsync(s => s.Count == 1, "another Service's change after the failure");
        await web.WaitForAsync(s => s.Count == 2, "the failed Service's next change");
        Assert.Equal(1, thrown);
    }

    [Fact]
    public async Task StormOfChanges_IsCoalesced_AndDoesNotDelayAnotherService()
    {
        await using var h = await Harness.CreateAsync(o => o.MinPublishInterval = TimeSpan.FromMilliseconds(100), services: ["busy", "quiet"]);
        h.Server.Apply(h.Namespace, Slice("busy-1", "busy", [new(["10.0.0.1"])]));
        h.Server.Apply(h.Namespace, Slice("quiet-1", "quiet", [new(["10.0.1.1"])]));
        await h.StartAsync();
        var busy = h.Source("busy");
        var quiet = h.Source("quiet");
        await busy.WaitForAsync(s => s.Count == 1, "busy's first pod");
        await h.NextRequestAsync(watch: true);
        var versionsBefore = busy.Version;

        for (var i = 0; i < 2_000; i++)
        {
            h.Server.Apply(h.Namespace, Slice("busy-1", "busy", [new([$"10.0.{(i / 250) + 2}.{(i % 250) + 1}"])]));
        }

        h.Server.Apply(h.Namespace, Slice("quiet-1", "quiet", [new(["10.0.1.2"])]));
        await quiet.WaitForAsync(s => s.Addresses().SequenceEqual(["10.0.1.2:8080"]), "quiet's change, not stuck behind busy's storm");
        await busy.WaitForAsync(s => s.Addresses().SequenceEqual(["10.0.9.250:8080"]), "busy's last state");

        var publications = busy.Version - versionsBefore;
        Assert.True(publications < 200, $"2,000 changes were published {publications} times; they should coalesce");
    }

    [Fact]
    public async Task UnauthorisedApiServer_IsUnhealthy_AndNeverCrashes()
    {
        await using var h = await Harness.CreateAsync();
        h.Server.FailNextList(Fault.Unauthorized, times: 1_000);
        await h.StartAsync(waitForSync: false);
        await h.NextRequestAsync(watch: false);
        await h.NextRequestAsync(watch: false); // it keeps trying, with backoff

        var result = await new KubernetesDiscoveryHealthCheck(h.Discovery).CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("never synced", result.Description, StringComparison.Ordinal);
        Assert.Equal(0, h.Source().Current.Count);
    }

    [Fact]
    public async Task TooManyRequests_IsRetried_ThenConverges()
    {
        await using var h = await Harness.CreateAsync();
        h.Server.FailNextList(Fault.TooManyRequests, times: 2);
        h.Server.Apply(h.Namespace, Slice("web-1", "web", [new(["10.0.0.1"])]));
        await h.StartAsync(waitForSync: false);

        await h.Source().WaitForAsync(s => s.Count == 1, "the pod after two 429s");
        Assert.Equal(3, h.Server.ListCount);
    }
}
