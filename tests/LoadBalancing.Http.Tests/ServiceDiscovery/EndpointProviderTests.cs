using System.Net;
using LoadBalancing.Http.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Primitives;
using Microsoft.Extensions.ServiceDiscovery;

namespace LoadBalancing.Http.Tests.ServiceDiscovery;

/// <summary>The Microsoft.Extensions.ServiceDiscovery provider, seen through ServiceDiscovery's own resolver and HttpClient handler.</summary>
public sealed class EndpointProviderTests
{
    private static ServiceProvider Build(EndpointSource source) => new ServiceCollection()
        .AddSingleton<IConfiguration>(new ConfigurationBuilder().Build())
        .AddServiceDiscovery()
        .AddLoadBalancingServiceEndpointProvider()
        .AddHttpLoadBalancing("payments").FromSource(source).Services
        .AddHttpClient("sd").AddServiceDiscovery().Services
        .BuildServiceProvider();

    [Fact]
    public async Task Resolver_ServiceName_ResolvedFromTheSource_ChangeObserved()
    {
        var source = new EndpointSource("payments");
        source.Publish([new BackendEndpoint("127.0.0.1", 5001), new BackendEndpoint("127.0.0.2", 5002, conditions: EndpointConditions.None)]);
        await using var services = Build(source);
        var resolver = services.GetRequiredService<ServiceEndpointResolver>();
        var ct = TestContext.Current.CancellationToken;

        var first = await resolver.GetEndpointsAsync("http://payments", ct);

        // Ready endpoints only; the pass-through provider added nothing ("payments:80" would be a DnsEndPoint).
        Assert.Equal([new IPEndPoint(IPAddress.Parse("127.0.0.1"), 5001)], first.Endpoints.Select(e => e.EndPoint));

        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = first.ChangeToken.RegisterChangeCallback(_ => changed.TrySetResult(), null);
        source.Publish([new BackendEndpoint("127.0.0.3", 5003)]);
        await changed.Task.WaitAsync(TestClient.Bound, ct);
        var second = await resolver.GetEndpointsAsync("http://payments", ct);

        Assert.Equal([new IPEndPoint(IPAddress.Parse("127.0.0.3"), 5003)], second.Endpoints.Select(e => e.EndPoint));
    }

    [Fact]
    public async Task Resolver_OtherName_LeftToTheOtherProviders()
    {
        var source = new EndpointSource("payments");
        source.Publish([new BackendEndpoint("127.0.0.1", 5001)]);
        await using var services = Build(source);

        var other = await services.GetRequiredService<ServiceEndpointResolver>().GetEndpointsAsync("http://orders", TestContext.Current.CancellationToken);

        Assert.Equal([new DnsEndPoint("orders", 80)], other.Endpoints.Select(e => e.EndPoint));
    }

    [Fact]
    public async Task Provider_SourcePublishes_ChangeTokenFires()
    {
        var source = new EndpointSource("payments");
        source.Publish([new BackendEndpoint("127.0.0.1", 5001)]);
        await using var services = Build(source);
        var factory = services.GetServices<IServiceEndpointProviderFactory>().Single(f => f.GetType().Name == "EndpointSourceProviderFactory");
        Assert.True(ServiceEndpointQuery.TryParse("http://payments", out var query));
        Assert.True(factory.TryCreateProvider(query!, out var provider));
        await using var _ = provider;
        var builder = new Builder();

        await provider.PopulateAsync(builder, TestContext.Current.CancellationToken);
        var token = Assert.Single(builder.Tokens);
        Assert.False(token.HasChanged);
        source.Publish([new BackendEndpoint("127.0.0.2", 5002)]);

        Assert.True(token.HasChanged);
        Assert.False(factory.TryCreateProvider(ServiceEndpointQuery.TryParse("http://orders", out var other) ? other! : throw new InvalidOperationException(), out var none));
        Assert.Null(none);
    }

    [Fact]
    public async Task HttpClientWithServiceDiscovery_SendsToTheSourceEndpoints_FollowsAChange()
    {
        await using var a = await HttpBackend.StartAsync("a", "127.0.0.1");
        await using var b = await HttpBackend.StartAsync("b", "127.0.0.2");
        var source = new EndpointSource("payments");
        source.Publish([a.Endpoint]);
        await using var services = Build(source);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient("sd");
        client.Timeout = TestClient.Bound;
        var ct = TestContext.Current.CancellationToken;

        Assert.Equal("a", await client.GetStringAsync(new Uri("http://payments/"), ct));

        source.Publish([b.Endpoint]);

        // ServiceDiscovery's watcher refreshes on the change token in the background: ask until it has (bounded).
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TestClient.Bound);
        while (await client.GetStringAsync(new Uri("http://payments/"), timeout.Token) != "b")
        {
        }

        var before = a.Calls;
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("b", await client.GetStringAsync(new Uri("http://payments/"), ct));
        }

        Assert.Equal(before, a.Calls);
    }

    [Fact]
    public async Task ServiceDiscoveryOnEveryClient_BalancingHandlerStillSeesTheLogicalHost()
    {
        await using var a = await HttpBackend.StartAsync("a", "127.0.0.1");
        await using var b = await HttpBackend.StartAsync("b", "127.0.0.2");
        var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().Build())
            .AddServiceDiscovery()
            .AddLoadBalancingServiceEndpointProvider()
            .ConfigureHttpClientDefaults(client => client.AddServiceDiscovery());
        services.AddHttpClient("client").AddLoadBalancing("payments", o =>
        {
            o.Balancer.Algorithm = LoadBalancingAlgorithm.Maglev;
            o.HashHeader = "x-user";
        }).FromEndpoints(a.Endpoint, b.Endpoint);
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("client");
        client.Timeout = TestClient.Bound;
        var ct = TestContext.Current.CancellationToken;

        // Had ServiceDiscovery's handler seen "payments" first, it would have resolved it through the provider and
        // picked an endpoint round-robin: only the balancing handler keeps a key on one endpoint.
        var owners = new Dictionary<string, string>();
        for (var round = 0; round < 3; round++)
        {
            // An odd number of keys a round, so that an alternation over two endpoints would move each key.
            for (var user = 0; user < 7; user++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "http://payments/");
                request.Headers.Add("x-user", "user-" + user);
                using var response = await client.SendAsync(request, ct);
                var name = await response.Content.ReadAsStringAsync(ct);
                Assert.Equal(owners.TryAdd("user-" + user, name) ? name : owners["user-" + user], name);
            }
        }

        Assert.Equal(21, a.Calls + b.Calls);
    }

    private sealed class Builder : IServiceEndpointBuilder
    {
        public List<IChangeToken> Tokens { get; } = [];

        public IList<ServiceEndpoint> Endpoints { get; } = [];

        public Microsoft.AspNetCore.Http.Features.IFeatureCollection Features { get; } = new Microsoft.AspNetCore.Http.Features.FeatureCollection();

        public void AddChangeToken(IChangeToken changeToken) => Tokens.Add(changeToken);
    }
}
