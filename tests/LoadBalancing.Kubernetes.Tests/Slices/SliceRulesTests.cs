using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using LoadBalancing.Kubernetes.Slices;
using static LoadBalancing.Kubernetes.Tests.Support.Slices;

namespace LoadBalancing.Kubernetes.Tests.Slices;

/// <summary>The EndpointSlice rules, on the JSON shapes the API server sends.</summary>
public sealed class SliceRulesTests
{
    private static SliceSnapshot Read(JsonObject json)
    {
        var slice = KubernetesJson.Deserialize<V1EndpointSlice>(json.ToJsonString());
        Assert.True(SliceReader.TryRead(slice, out var snapshot, out var error), error);
        return snapshot;
    }

    private static string Error(JsonObject json)
    {
        var slice = KubernetesJson.Deserialize<V1EndpointSlice>(json.ToJsonString());
        Assert.False(SliceReader.TryRead(slice, out _, out var error));
        return error;
    }

    [Fact]
    public void AbsentConditions_MeanReadyServingNotTerminating()
    {
        var slice = Read(Slice("web-1", "web", [new(["10.0.0.1"], Ready: null, Serving: null, Terminating: null)]));

        Assert.Equal(EndpointConditions.Ready | EndpointConditions.Serving, slice.Endpoints[0].Conditions);
    }

    [Fact]
    public void SlicesOfAService_AreUnited_AndDuplicatesMerged_PreferringTheReadyCopy()
    {
        var a = Read(Slice("web-a", "web", [new(["10.0.0.1"]), new(["10.0.0.2"], Ready: false, Serving: true, Terminating: true)]));
        var b = Read(Slice("web-b", "web", [new(["10.0.0.3"]), new(["10.0.0.2"])]));

        var endpoints = ServiceEndpoints.Build([a, b], "http");

        Assert.Equal(["10.0.0.1", "10.0.0.2", "10.0.0.3"], endpoints.Select(e => e.Address).Order());
        Assert.Equal(EndpointConditions.Ready | EndpointConditions.Serving, endpoints.Single(e => e.Address == "10.0.0.2").Conditions);
    }

    [Fact]
    public void Ports_MatchByName_ByNumber_OrTheOnlyPort()
    {
        var named = Read(Slice("web-1", "web", [new(["10.0.0.1"])], [("http", 8080), ("metrics", 9090)]));
        var unnamed = Read(Slice("single-1", "single", [new(["10.0.0.2"])], [(null, 3000)]));

        Assert.Equal(9090, ServiceEndpoints.Build([named], "metrics").Single().Port);
        Assert.Equal(8080, ServiceEndpoints.Build([named], "8080").Single().Port);
        Assert.Empty(ServiceEndpoints.Build([named], null)); // two ports: which one is ambiguous
        Assert.Empty(ServiceEndpoints.Build([named], "grpc"));
        Assert.Equal(3000, ServiceEndpoints.Build([unnamed], null).Single().Port);
    }

    [Fact]
    public void TerminatingEndpoints_AreKept_SoTheCoreCanFallBackToThem()
    {
        var slice = Read(Slice("web-1", "web", [new(["10.0.0.1"], Ready: false, Serving: true, Terminating: true)]));
        var endpoints = ServiceEndpoints.Build([slice], "http");
        var source = new EndpointSource("web");
        source.Publish(endpoints);
        using var balancer = new Balancer(source, new BalancerOptions());

        // No endpoint is ready: kube-proxy (and the core) use serving-terminating ones.
        Assert.Equal("10.0.0.1", balancer.Pick().Endpoint!.Address);
    }

    [Fact]
    public void FqdnSlices_AreSkipped_AndDualStackCountsAPodOnce()
    {
        var v4 = Read(Slice("web-v4", "web", [new(["10.0.0.1"])]));
        var v6 = Read(Slice("web-v6", "web", [new(["fd00::1"])], addressType: "IPv6"));
        var fqdn = Read(Slice("web-fqdn", "web", [new(["web.example.com"])], addressType: "FQDN"));

        Assert.Equal(["10.0.0.1"], ServiceEndpoints.Build([v4, v6, fqdn], "http").Select(e => e.Address));
        Assert.Equal(["fd00::1"], ServiceEndpoints.Build([v6, fqdn], "http").Select(e => e.Address));
        Assert.Empty(ServiceEndpoints.Build([fqdn], "http"));
    }

    [Fact]
    public void Origins_NameTheSlicesUsed_WithVersionAddressTypeAndTheChosenPortsAppProtocol()
    {
        var withProtocol = Slice("web-b", "web", [new(["10.0.0.2"])], [("http", 8080), ("grpc", 9000)]);
        withProtocol["metadata"]!["resourceVersion"] = "42";
        withProtocol["ports"]![1]!["appProtocol"] = "kubernetes.io/h2c";
        var a = Read(Slice("web-a", "web", [new(["10.0.0.1"])], [("grpc", 9000)]));
        var b = Read(withProtocol);
        var v6 = Read(Slice("web-v6", "web", [new(["fd00::1"])], [("grpc", 9000)], addressType: "IPv6"));
        var emptyV4 = Read(Slice("web-empty", "web", [], [("grpc", 9000)]));
        var noSuchPort = Read(Slice("web-c", "web", [new(["10.0.0.3"])], [("http", 8080)]));

        ServiceEndpoints.Build([b, v6, a, noSuchPort], "grpc", out var origins);
        ServiceEndpoints.Build([v6], "grpc", out var onlyV6);
        ServiceEndpoints.Build([emptyV4, v6 with { Endpoints = [] }], "grpc", out var noEndpoints);

        // The other family and a slice without the port are not what the endpoints came from.
        Assert.Equal(["EndpointSlice web-a", "EndpointSlice web-b@42"], origins.Select(o => o.ToString()));
        Assert.Equal([new("addressType", "IPv4"), new("port", "9000"), new("portName", "grpc"), new("appProtocol", "kubernetes.io/h2c"), new KeyValuePair<string, string>("endpoints", "1")], origins[1].Details);
        Assert.DoesNotContain(origins[0].Details, d => d.Key == "appProtocol");
        Assert.Equal(["web-v6"], onlyV6.Select(o => o.Name));
        Assert.Equal("IPv6", onlyV6[0].Details[0].Value);
        Assert.Equal(["web-empty"], noEndpoints.Select(o => o.Name)); // no endpoints anywhere: the IPv4 slices are named
    }

    [Fact]
    public void ZoneAndForZonesHints_AreCarried()
    {
        var slice = Read(Slice("web-1", "web", [new(["10.0.0.1"], Zone: "eu-west-1a", ForZones: ["eu-west-1a", "eu-west-1b"])]));

        var endpoint = ServiceEndpoints.Build([slice], "http").Single();

        Assert.Equal("eu-west-1a", endpoint.Zone);
        Assert.Equal(["eu-west-1a", "eu-west-1b"], endpoint.ForZones);
    }

    [Fact]
    public void MalformedSlices_SayWhy()
    {
        var noLabel = Slice("web-1", "web", [new(["10.0.0.1"])]);
        noLabel["metadata"]!["labels"] = new JsonObject();
        var badAddress = Slice("web-2", "web", [new(["10.0.0.999"])]);
        var wrongFamily = Slice("web-3", "web", [new(["fd00::1"])]);
        var noAddress = Slice("web-4", "web", [new([])]);
        var badPort = Slice("web-5", "web", [new(["10.0.0.1"])], [("http", 70000)]);

        Assert.Contains("no kubernetes.io/service-name label", Error(noLabel), StringComparison.Ordinal);
        Assert.Contains("'10.0.0.999', not an IPv4 address", Error(badAddress), StringComparison.Ordinal);
        Assert.Contains("'fd00::1', not an IPv4 address", Error(wrongFamily), StringComparison.Ordinal);
        Assert.Contains("has no address", Error(noAddress), StringComparison.Ordinal);
        Assert.Contains("no valid port number", Error(badPort), StringComparison.Ordinal);
    }
}
