using System.Text.Json;
using LoadBalancing.Proxy.Clusters;
using LoadBalancing.Proxy.Tests.Support;

namespace LoadBalancing.Proxy.Tests.Forwarding;

/// <summary>Two clusters over one endpoint source (two routes to one Service, each with its own policy).</summary>
public sealed class SharedSourceClustersTests
{
    [Fact]
    public async Task OutlierDetection_OfOneCluster_DoesNotEjectForTheOther()
    {
        await using var live = await TestBackend.StartAsync("live", "127.0.0.2");
        var dead = Loopback.DeadEndpoint("127.0.0.3");
        var source = new EndpointSource("shared");
        source.Publish([Endpoint(live.Address), Endpoint(dead)]);

        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin);
        options.Routes.Clear();
        options.Clusters.Clear();
        options.Routes.Add(new ProxyRouteOptions { Path = "/strict", Cluster = "strict" });
        options.Routes.Add(new ProxyRouteOptions { Path = "/lenient", Cluster = "lenient" });
        options.Clusters["strict"] = new ClusterOptions { Algorithm = LoadBalancingAlgorithm.RoundRobin, OutlierDetection = { ConsecutiveFailures = 1 } };
        options.Clusters["lenient"] = new ClusterOptions { Algorithm = LoadBalancingAlgorithm.RoundRobin, OutlierDetection = { Enabled = false } };
        await using var proxy = await TestProxy.StartAsync(options, configure: p => p
            .UseEndpointSource("strict", source, stalenessBound: null)
            .UseEndpointSource("lenient", source, stalenessBound: null));
        var ct = TestContext.Current.CancellationToken;
        var strict = proxy.Cluster("strict");
        var lenient = proxy.Cluster("lenient");
        Assert.Same(strict.Source, lenient.Source);

        // Round-robin cursors are per thread: send until a request has met the dead endpoint (a retry then reaches the live one).
        for (var i = 0; i < 50 && strict.Balancer.Status.EjectedEndpoints == 0; i++)
        {
            (await proxy.Client.GetAsync("/strict", ct)).EnsureSuccessStatusCode();
        }

        Assert.Equal(1, strict.Balancer.Status.EjectedEndpoints);

        // The lenient cluster keeps picking the dead endpoint: its connect failures show in its own totals.
        var deadState = source.Current.States[source.Current.Endpoints.ToList().IndexOf(Endpoint(dead))];
        for (var i = 0; i < 50 && (lenient.Totals(deadState)?.ConnectFailures(ConnectFailure.Refused) ?? 0) < 2; i++)
        {
            (await proxy.Client.GetAsync("/lenient", ct)).EnsureSuccessStatusCode();
        }

        Assert.True(lenient.Totals(deadState)?.ConnectFailures(ConnectFailure.Refused) >= 2);
        lenient.Balancer.Refresh();
        Assert.Equal(0, lenient.Balancer.Status.EjectedEndpoints);
        Assert.Equal(2, lenient.Balancer.Status.UsableEndpoints);
        Assert.Equal(1, strict.Balancer.Status.EjectedEndpoints);

        using var json = JsonDocument.Parse(await proxy.Admin.GetStringAsync("backends", ct));
        var clusters = json.RootElement.GetProperty("clusters").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!);
        Assert.True(DeadIn(clusters["strict"]).GetProperty("ejected").GetBoolean());
        Assert.Equal(1, DeadIn(clusters["strict"]).GetProperty("ejectionsTotal").GetInt32());
        Assert.False(DeadIn(clusters["lenient"]).GetProperty("ejected").GetBoolean());
        Assert.Equal(0, DeadIn(clusters["lenient"]).GetProperty("ejectionsTotal").GetInt32());

        var metrics = await proxy.Admin.GetStringAsync("metrics", ct);
        Assert.Contains("lb_cluster_endpoint_ejections{cluster=\"strict\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("lb_cluster_endpoint_ejections{cluster=\"lenient\"} 0\n", metrics, StringComparison.Ordinal);

        static BackendEndpoint Endpoint(string address) => new EndpointOptions { Address = address }.ToEndpoint();

        JsonElement DeadIn(JsonElement cluster) => cluster.GetProperty("endpoints").EnumerateArray()
            .Single(e => $"{e.GetProperty("address").GetString()}:{e.GetProperty("port").GetInt32()}" == dead);
    }
}
