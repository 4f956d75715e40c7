using k8s.Models;
using LoadBalancing.Kubectl.Kube;

namespace LoadBalancing.Kubectl.Tests.Kube;

/// <summary>The plugin reads a Service's slices with the proxy's own rules, or diff would report differences that are not there.</summary>
public sealed class ServiceTruthTests
{
    [Fact]
    public void Build_PortByNameOrNumber_AndTheOnlyPortWhenNoneIsNamed()
    {
        var slices = new[] { Slice("IPv4", [("http", 8080), ("metrics", 9090)], Endpoint(true, "10.0.0.1")) };

        Assert.Equal(["10.0.0.1:8080"], ServiceTruth.Build(slices, "http").Keys);
        Assert.Equal(["10.0.0.1:9090"], ServiceTruth.Build(slices, "9090").Keys);
        Assert.Empty(ServiceTruth.Build(slices, null));
        Assert.Equal(["10.0.0.1:8080"], ServiceTruth.Build([Slice("IPv4", [(null, 8080)], Endpoint(true, "10.0.0.1"))], null).Keys);
    }

    [Fact]
    public void Build_IPv4WinsOverIPv6_FqdnIsSkipped_AndADuplicateKeepsItsMoreUsableConditions()
    {
        var slices = new[]
        {
            Slice("IPv6", [("http", 80)], Endpoint(true, "fd00::1")),
            Slice("FQDN", [("http", 80)], Endpoint(true, "db.example")),
            Slice("IPv4", [("http", 80)], Endpoint(false, "10.0.0.1")),
            Slice("IPv4", [("http", 80)], Endpoint(true, "10.0.0.1")),
        };

        var truth = ServiceTruth.Build(slices, "http");

        var fact = Assert.Single(truth.Values);
        Assert.Equal(new EndpointFact("10.0.0.1:80", "ready,serving"), fact);
    }

    [Fact]
    public void Build_IPv6Only_KeysInBrackets()
    {
        var truth = ServiceTruth.Build([Slice("IPv6", [("http", 80)], Endpoint(true, "fd00::1"))], "http");

        Assert.Equal(["[fd00::1]:80"], truth.Keys);
    }

    private static V1EndpointSlice Slice(string addressType, (string? Name, int Port)[] ports, params V1Endpoint[] endpoints) => new()
    {
        AddressType = addressType,
        Ports = [.. ports.Select(p => new Discoveryv1EndpointPort { Name = p.Name, Port = p.Port })],
        Endpoints = endpoints,
    };

    private static V1Endpoint Endpoint(bool ready, string address) => new()
    {
        Addresses = [address],
        Conditions = new V1EndpointConditions { Ready = ready },
    };
}
