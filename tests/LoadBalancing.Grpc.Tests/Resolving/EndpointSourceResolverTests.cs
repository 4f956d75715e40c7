using Grpc.Core;
using LoadBalancing.Grpc.Tests.Support;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Grpc.Tests.Resolving;

/// <summary>The EndpointSource resolver in a real channel.</summary>
public sealed class EndpointSourceResolverTests
{
    [Fact]
    public async Task NeverSynced_CallsFailUnavailable_NamingDiscovery_ThenFirstPublishServes()
    {
        await using var a = await GrpcBackend.StartAsync("a", "127.0.0.1");
        var source = new EndpointSource("later");
        await using var channel = TestChannel.ForSource(source, new PeakEwmaConfig());

        var error = await Assert.ThrowsAsync<RpcException>(() => channel.CallAsync("hi"));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Contains("discovery has not synced", error.Status.Detail, StringComparison.Ordinal);

        source.Publish([new BackendEndpoint(a.Ip, a.Port)]);
        await channel.WhenReadyAsync(a);
        Assert.Equal("a:hi", await channel.CallAsync("hi"));
    }

    [Fact]
    public async Task SyncedWithoutEndpoints_CallsFailWithNoAddresses_NoLongerNotSynced()
    {
        var time = new FakeTimeProvider();
        var source = new EndpointSource("empty");
        await using var channel = TestChannel.ForSource(source, new PeakEwmaConfig(), time: time);
        var error = await Assert.ThrowsAsync<RpcException>(() => channel.CallAsync("hi"));
        Assert.Contains("discovery has not synced", error.Status.Detail, StringComparison.Ordinal);

        // A first sync that finds nothing changes no version and notifies no subscriber: the resolver's re-check sees it.
        source.Publish([]);
        time.Advance(TimeSpan.FromMilliseconds(250));

        error = await Assert.ThrowsAsync<RpcException>(() => channel.CallAsync("hi"));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Contains("no addresses", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NotReadyEndpoints_AreNotResolved()
    {
        await using var a = await GrpcBackend.StartAsync("a", "127.0.0.1");
        await using var b = await GrpcBackend.StartAsync("b", "127.0.0.2");
        var source = new EndpointSource("half");
        source.Publish([new BackendEndpoint(a.Ip, a.Port), new BackendEndpoint(b.Ip, b.Port, conditions: EndpointConditions.Serving | EndpointConditions.Terminating)]);
        await using var channel = TestChannel.ForSource(source, new LeastRequestConfig());
        await channel.WhenReadyAsync(a);

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal("a", await channel.WhoAnswersAsync());
        }

        Assert.Empty(b.Calls);
    }

    [Fact]
    public async Task Weights_TravelAsAttributes_IntoTheCoreBalancer()
    {
        await using var a = await GrpcBackend.StartAsync("a", "127.0.0.1");
        var source = new EndpointSource("weighted");
        source.Publish([new BackendEndpoint(a.Ip, a.Port, weight: 7, hashKey: "pod-a")]);
        await using var channel = TestChannel.ForSource(source, new MaglevConfig { HashKey = "x-user" });
        var balancer = await channel.WhenReadyAsync(a);

        var endpoint = Assert.Single(balancer.Source.Current.Endpoints);
        Assert.Equal((7, "pod-a"), (endpoint.Weight, endpoint.HashKey));
    }
}
