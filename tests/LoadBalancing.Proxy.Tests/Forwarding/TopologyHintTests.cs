using System.Text.Json;
using LoadBalancing.Proxy.Tests.Support;

namespace LoadBalancing.Proxy.Tests.Forwarding;

/// <summary>
/// <c>Proxy:Zone</c> over endpoints with topology hints (as discovery reads them from EndpointSlices): the proxy sends
/// its requests to the endpoints hinted for its zone, a reload to another zone moves them, and without a zone the
/// hints are ignored.
/// </summary>
public sealed class TopologyHintTests
{
    [Fact(Timeout = 30_000)]
    public async Task RequestsGoToTheEndpointHintedForTheProxysZone_AndFollowAReloadedZone()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var a = await TestBackend.StartAsync("a", "127.0.0.91");
        await using var b = await TestBackend.StartAsync("b", "127.0.0.92");
        await using var c = await TestBackend.StartAsync("c", "127.0.0.93");
        var source = new EndpointSource("web");
        source.Publish([Hinted(a, "a"), Hinted(b, "b"), Hinted(c, "c")]);
        await using var proxy = await TestProxy.StartAsync(Options(a, "b"), configure: p => p.UseEndpointSource("web", source, stalenessBound: null));
        using var client = proxy.NewClient();

        Assert.Equal(["b"], await AnsweredByAsync(client, 12, ct));
        Assert.Equal(("b", true, 1), await ZoneStatusAsync(proxy, ct));
        using (var backends = JsonDocument.Parse(await proxy.Admin.GetStringAsync("/backends", ct)))
        {
            var endpoints = backends.RootElement.GetProperty("clusters")[0].GetProperty("endpoints");
            Assert.Equal(["a", "b", "c"], endpoints.EnumerateArray().Select(e => e.GetProperty("forZones")[0].GetString()));
        }

        Assert.Equal(ReloadOutcome.Applied, proxy.Runtime.Reload(Options(a, "c"), [], "test").Outcome);
        Assert.Equal(["c"], await AnsweredByAsync(client, 12, ct));

        // An endpoint without hints (the EndpointSlice controller mid-change): every endpoint takes requests again.
        source.Publish([Hinted(a, "a"), Hinted(b, "b"), new BackendEndpoint("127.0.0.93", Port(c))]);
        Assert.Equal(("c", false, 3), await ZoneStatusAsync(proxy, ct));

        // Without a zone the hints are ignored.
        source.Publish([Hinted(a, "a"), Hinted(b, "b"), Hinted(c, "c")]);
        Assert.Equal(("c", true, 1), await ZoneStatusAsync(proxy, ct));
        Assert.Equal(ReloadOutcome.Applied, proxy.Runtime.Reload(Options(a, zone: null), [], "test").Outcome);
        Assert.Equal((null, false, 3), await ZoneStatusAsync(proxy, ct));
        Assert.Contains(await client.GetStringAsync("/", ct), new[] { "a", "b", "c" });
    }

    /// <summary>The cluster's zone, whether hints narrowed it, and its usable endpoints, from /backends.</summary>
    private static async Task<(string? Zone, bool InZone, int Usable)> ZoneStatusAsync(TestProxy proxy, CancellationToken ct)
    {
        using var backends = JsonDocument.Parse(await proxy.Admin.GetStringAsync("/backends", ct));
        var cluster = backends.RootElement.GetProperty("clusters")[0];
        return cluster.TryGetProperty("zone", out var zone)
            ? (zone.GetString(), cluster.GetProperty("inZone").GetBoolean(), cluster.GetProperty("usableEndpoints").GetInt32())
            : (null, false, cluster.GetProperty("usableEndpoints").GetInt32());
    }

    [Fact(Timeout = 30_000)]
    public async Task TheZonesOnlyEndpointRefusingConnections_LosesNoRequest_TheRetryLeavesTheZone()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var other = await TestBackend.StartAsync("other-zone", "127.0.0.94");
        var dead = Loopback.DeadEndpoint("127.0.0.95");
        var source = new EndpointSource("web");
        source.Publish([new BackendEndpoint("127.0.0.95", int.Parse(dead.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture), forZones: ["a"]), Hinted(other, "b")]);
        await using var proxy = await TestProxy.StartAsync(Options(other, "a"), configure: p => p.UseEndpointSource("web", source, stalenessBound: null));
        using var client = proxy.NewClient();

        // Each request tries the zone's endpoint first, then retries in the other zone; outlier detection ejects the
        // refusing endpoint after five failures, and the zone's requests go to the other zone from then on.
        Assert.Equal(["other-zone"], await AnsweredByAsync(client, 8, ct));
        Assert.True(proxy.Cluster().Metrics.Retries >= 1);
    }

    private static ProxyOptions Options(TestBackend any, string? zone)
    {
        var options = TestTransport.Apply(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, any.Address));
        options.Zone = zone;
        return options;
    }

    private static BackendEndpoint Hinted(TestBackend backend, string zone) =>
        new(backend.Address.Split(':')[0], Port(backend), zone: zone, forZones: [zone]);

    private static int Port(TestBackend backend) => int.Parse(backend.Address.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The backends that answered <paramref name="count"/> GETs, sorted.</summary>
    private static async Task<string[]> AnsweredByAsync(HttpClient client, int count, CancellationToken ct)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            names.Add(await client.GetStringAsync("/", ct));
        }

        return [.. names];
    }
}
