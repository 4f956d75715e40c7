using LoadBalancing.Grpc.Kubernetes;
using LoadBalancing.Grpc.Tests.Support;
using LoadBalancing.Kubernetes;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static LoadBalancing.Kubernetes.Tests.Support.Slices;

namespace LoadBalancing.Grpc.Tests.Kubernetes;

/// <summary>The k8s:/// resolver: EndpointSlices on the test API server, discovery, a real channel, real gRPC servers.</summary>
public sealed class KubernetesResolverTests
{
    [Fact]
    public async Task K8sTarget_FollowsTheServiceSlices_ARemovedPodStopsReceivingCalls()
    {
        await using var a = await GrpcBackend.StartAsync("a", "127.0.0.1");
        await using var b = await GrpcBackend.StartAsync("b", "127.0.0.2");
        await using var c = await GrpcBackend.StartAsync("c", "127.0.0.3");
        await using var server = await FakeApiServer.StartAsync();
        var ns = "ns-" + Guid.NewGuid().ToString("N")[..8];
        // One slice per pod: the servers listen on different ports, and a slice has one port list.
        foreach (var backend in new[] { a, b, c })
        {
            server.Apply(ns, Slice("web-" + backend.Name, "web", [new([backend.Ip])], [("grpc", backend.Port)]));
        }

        var options = new KubernetesDiscoveryOptions
        {
            ApiServer = server.Url,
            MinPublishInterval = TimeSpan.Zero,
            BackoffInitial = TimeSpan.FromMilliseconds(20),
            BackoffMax = TimeSpan.FromMilliseconds(200),
        };
        options.Services.Add(new ServiceReference { Namespace = ns, Name = "web", Port = "grpc" });
        await using var discovery = new KubernetesDiscovery(options);
        await discovery.StartAsync(TestContext.Current.CancellationToken).WaitAsync(TestChannel.Bound, TestContext.Current.CancellationToken);

        var services = new ServiceCollection()
            .AddSingleton(discovery)
            .AddLoadBalancingGrpc()
            .AddLoadBalancingGrpcKubernetes()
            .BuildServiceProvider();
        await using var channel = TestChannel.ForServices(services, $"k8s:///{ns}/web:grpc", new LeastRequestConfig());
        await channel.WhenReadyAsync(a, b, c);
        var answered = new HashSet<string>();
        for (var i = 0; i < 30; i++)
        {
            answered.Add(await channel.WhoAnswersAsync());
        }

        Assert.Equal(["a", "b", "c"], answered.Order());

        server.Delete(ns, "web-c");
        await channel.WhenReadyAsync(a, b);
        var before = c.Calls.Count;
        for (var i = 0; i < 20; i++)
        {
            await channel.WhoAnswersAsync();
        }

        Assert.Equal(before, c.Calls.Count);
        await discovery.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task K8sTarget_ServiceNotInTheOptions_IsFollowedFromTheChannelOn()
    {
        await using var a = await GrpcBackend.StartAsync("a", "127.0.0.1");
        await using var server = await FakeApiServer.StartAsync();
        var ns = "ns-" + Guid.NewGuid().ToString("N")[..8];
        server.Apply(ns, Slice("api-a", "api", [new([a.Ip])], [(null, a.Port)]));
        var options = new KubernetesDiscoveryOptions { ApiServer = server.Url, MinPublishInterval = TimeSpan.Zero };
        var services = new ServiceCollection()
            .AddKubernetesDiscovery(options)
            .AddLoadBalancingGrpc()
            .AddLoadBalancingGrpcKubernetes()
            .BuildServiceProvider();
        var discovery = services.GetRequiredService<KubernetesDiscovery>();
        await discovery.StartAsync(TestContext.Current.CancellationToken).WaitAsync(TestChannel.Bound, TestContext.Current.CancellationToken);

        // No port in the target: the Service's only port.
        await using var channel = TestChannel.ForServices(services, $"k8s:///{ns}/api", new PeakEwmaConfig());
        await channel.WhenReadyAsync(a);

        Assert.Equal("a:hi", await channel.CallAsync("hi"));
        await discovery.StopAsync(TestContext.Current.CancellationToken);
    }

    [Theory]
    [InlineData("k8s:///prod/shop:http", "prod", "shop", "http")]
    [InlineData("k8s:///prod/shop:8080", "prod", "shop", "8080")]
    [InlineData("k8s:///prod/shop", "prod", "shop", null)]
    public void ParseTarget_NamespaceServicePort(string target, string ns, string service, string? port) =>
        Assert.Equal((ns, service, port), KubernetesResolverFactory.ParseTarget(new Uri(target)));

    [Theory]
    [InlineData("k8s:///shop")]
    [InlineData("k8s://prod/shop")]
    [InlineData("k8s:///prod/shop/extra")]
    public void ParseTarget_NotNamespaceAndService_Throws_NamingTheForm(string target)
    {
        var error = Assert.Throws<ArgumentException>(() => KubernetesResolverFactory.ParseTarget(new Uri(target)));
        Assert.Contains("k8s:///namespace/service", error.Message, StringComparison.Ordinal);
    }
}
