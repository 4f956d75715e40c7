using LoadBalancing.Kubernetes;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Yarp.Kubernetes;
using LoadBalancing.Yarp.Kubernetes.Resolving;
using LoadBalancing.Yarp.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.ServiceDiscovery;
using static LoadBalancing.Kubernetes.Tests.Support.Slices;

namespace LoadBalancing.Yarp.Tests.Kubernetes;

/// <summary>The k8s:/// address form and the resolver called directly, with discovery against the test API server.</summary>
public sealed class KubernetesDestinationResolverTests
{
    [Theory]
    [InlineData("k8s:///prod/shop:http", false, "prod", "shop", "http", "/")]
    [InlineData("k8s:///prod/shop:8080", false, "prod", "shop", "8080", "/")]
    [InlineData("k8s:///prod/shop", false, "prod", "shop", null, "/")]
    [InlineData("K8S:///prod/shop:http/api/", false, "prod", "shop", "http", "/api/")]
    [InlineData("k8s+https:///prod/shop:https/v1", true, "prod", "shop", "https", "/v1")]
    public void TryParse_KubernetesAddress_NamespaceServicePortPath(string text, bool https, string ns, string service, string? port, string path)
    {
        Assert.True(KubernetesAddress.TryParse(text, out var address, out var error));
        Assert.Null(error);
        Assert.Equal(new KubernetesAddress(https, ns, service, port, path), address);
    }

    [Theory]
    [InlineData("http://10.0.0.1:8080/")]
    [InlineData("https://shop.prod.svc/")]
    [InlineData("")]
    public void TryParse_OtherScheme_IsNotOurs_WithoutError(string text)
    {
        Assert.False(KubernetesAddress.TryParse(text, out _, out var error));
        Assert.Null(error);
    }

    [Theory]
    [InlineData("k8s://prod/shop:http")]
    [InlineData("k8s:///shop")]
    [InlineData("k8s:///prod/:http")]
    [InlineData("k8s:///prod/shop?x=1")]
    public void TryParse_MalformedKubernetesAddress_Fails_NamingTheForm(string text)
    {
        Assert.False(KubernetesAddress.TryParse(text, out _, out var error));
        Assert.Contains("k8s:///namespace/service", error, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task Resolve_MixedDestinations_ExpandsK8s_PassesOthers_KeepsSettingsAndWeight()
    {
        await using var server = await FakeApiServer.StartAsync();
        var ns = "ns-" + Guid.NewGuid().ToString("N")[..8];
        server.Apply(ns, Slice("web-1", "web", [new(["10.0.0.1"], Zone: "z1"), new(["10.0.0.2"], Ready: false, Serving: false)], [("https", 8443)]));
        await using var discovery = new KubernetesDiscovery(KubernetesYarpProxy.Options(server));
        using var resolver = new KubernetesDestinationResolver(discovery);
        var destinations = new Dictionary<string, DestinationConfig>(StringComparer.OrdinalIgnoreCase)
        {
            ["web"] = new() { Address = $"k8s+https:///{ns}/web:https/api/", Host = "web.example", Metadata = new Dictionary<string, string> { [LoadBalancingMetadataKeys.Weight] = "5", ["team"] = "shop" } },
            ["static"] = new() { Address = "http://10.9.9.9:80/" },
        };

        // Not listed yet: the Service is followed from now on; nothing to send to but the static destination.
        var first = await resolver.ResolveDestinationsAsync(destinations, TestContext.Current.CancellationToken);
        Assert.Equal(["static"], first.Destinations.Keys);
        Assert.NotNull(first.ChangeToken);

        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = first.ChangeToken!.RegisterChangeCallback(_ => changed.TrySetResult(), null);
        await discovery.StartAsync(TestContext.Current.CancellationToken);
        await changed.Task.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);

        var second = await resolver.ResolveDestinationsAsync(destinations, TestContext.Current.CancellationToken);
        Assert.Equal(["static", "web[10.0.0.1:8443]"], second.Destinations.Keys.Order(StringComparer.Ordinal));
        Assert.Same(destinations["static"], second.Destinations["static"]);
        var pod = second.Destinations["web[10.0.0.1:8443]"];
        Assert.Equal("https://10.0.0.1:8443/api/", pod.Address);
        Assert.Equal("web.example", pod.Host);
        Assert.Equal("5", pod.Metadata![LoadBalancingMetadataKeys.Weight]);
        Assert.Equal("shop", pod.Metadata["team"]);
        Assert.Equal("z1", pod.Metadata[KubernetesDestinationMetadataKeys.Zone]);
        Assert.Equal($"{ns}/web:https", pod.Metadata[KubernetesDestinationMetadataKeys.Service]);
        Assert.False(second.ChangeToken!.HasChanged);
        await discovery.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact(Timeout = 30_000)]
    public async Task Startup_DiscoveryPublishedAfterYarpResolved_WaitsForYarpToApplyTheNewEndpoints()
    {
        await using var server = await FakeApiServer.StartAsync();
        var ns = "ns-" + Guid.NewGuid().ToString("N")[..8];
        server.Apply(ns, Slice("web-1", "web", [new(["10.0.0.1"])], [("http", 8080)]));
        await using var discovery = new KubernetesDiscovery(KubernetesYarpProxy.Options(server));
        using var resolver = new KubernetesDestinationResolver(discovery);
        var destinations = new Dictionary<string, DestinationConfig> { ["web"] = new() { Address = $"k8s:///{ns}/web:http" } };

        // YARP's first load, before discovery runs: nothing listed, and what was resolved is applied.
        var first = await resolver.ResolveDestinationsAsync(destinations, TestContext.Current.CancellationToken);
        resolver.OnConfigurationEnded(applied: true);
        Assert.Empty(first.Destinations);
        Assert.False(resolver.Behind);

        await discovery.StartAsync(TestContext.Current.CancellationToken);
        Assert.True(resolver.Behind);
        var startup = new KubernetesDestinationsStartup(resolver, TimeProvider.System).StartAsync(TestContext.Current.CancellationToken);

        // YARP's reload: resolved, but a failed apply does not count.
        await resolver.ResolveDestinationsAsync(destinations, TestContext.Current.CancellationToken);
        resolver.OnConfigurationEnded(applied: false);
        Assert.False(startup.IsCompleted);
        await resolver.ResolveDestinationsAsync(destinations, TestContext.Current.CancellationToken);
        resolver.OnConfigurationEnded(applied: true);

        await startup.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.False(resolver.Behind);
        await discovery.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact(Timeout = 30_000)]
    public async Task Resolve_NoKubernetesDestination_ReturnsThemUnchanged_WithoutToken()
    {
        await using var discovery = new KubernetesDiscovery(new KubernetesDiscoveryOptions { ApiServer = "http://127.0.0.1:9" });
        using var resolver = new KubernetesDestinationResolver(discovery);
        var destinations = new Dictionary<string, DestinationConfig> { ["a"] = new() { Address = "http://10.0.0.1/" } };

        var resolved = await resolver.ResolveDestinationsAsync(destinations, TestContext.Current.CancellationToken);

        Assert.Same(destinations, resolved.Destinations);
        Assert.Null(resolved.ChangeToken);
    }

    [Theory]
    [InlineData("k8s://prod/web:http", null, "has an authority")]
    [InlineData("k8s:///prod/web:http", "http://10.0.0.1/health", "takes no Health address")]
    public async Task Resolve_BadKubernetesDestination_Throws_NamingTheDestination(string address, string? health, string message)
    {
        await using var discovery = new KubernetesDiscovery(new KubernetesDiscoveryOptions { ApiServer = "http://127.0.0.1:9" });
        using var resolver = new KubernetesDestinationResolver(discovery);
        var destinations = new Dictionary<string, DestinationConfig> { ["web"] = new() { Address = address, Health = health } };

        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await resolver.ResolveDestinationsAsync(destinations, TestContext.Current.CancellationToken));

        Assert.StartsWith("Destination 'web':", error.Message, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task AddKubernetesDestinations_AfterAnotherResolver_HandsItTheOtherDestinations()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddKubernetesDiscovery(new KubernetesDiscoveryOptions { ApiServer = "http://127.0.0.1:9" });
        var builder = services.AddReverseProxy();
        services.AddSingleton<IDestinationResolver, SuffixResolver>();
        builder.AddKubernetesDestinations().AddKubernetesDestinations();
        await using var provider = services.BuildServiceProvider();

        var resolver = provider.GetRequiredService<IDestinationResolver>();
        var resolved = await resolver.ResolveDestinationsAsync(
            new Dictionary<string, DestinationConfig> { ["a"] = new() { Address = "http://a/" }, ["web"] = new() { Address = "k8s:///prod/web:http" } },
            TestContext.Current.CancellationToken);

        Assert.IsType<KubernetesDestinationResolver>(resolver);
        Assert.Single(provider.GetServices<IDestinationResolver>());
        Assert.Equal(["a-resolved"], resolved.Destinations.Keys);
        Assert.IsType<CompositeChangeToken>(resolved.ChangeToken);
    }

    [Fact]
    public void AddKubernetesDestinations_Section_RegistersDiscoveryAndItsHealthChecks_WithNoServiceNamed()
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Kubernetes:ApiServer"] = "http://127.0.0.1:9" }).Build().GetSection("Kubernetes");
        var services = new ServiceCollection().AddLogging();
        services.AddReverseProxy().AddKubernetesDestinations(section);

        Assert.Contains(services, d => d.ServiceType == typeof(KubernetesDiscovery));
        using var provider = services.BuildServiceProvider();
        var checks = provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckServiceOptions>>().Value.Registrations;
        Assert.Contains(checks, c => c.Name == "kubernetes-discovery" && c.Tags.Contains("ready"));
        Assert.Contains(checks, c => c.Name == "kubernetes-discovery-liveness" && c.Tags.Contains("live"));
        Assert.Throws<InvalidOperationException>(() => services.AddReverseProxy().AddKubernetesDestinations(section));
    }

    [Fact]
    public void AddKubernetesDestinations_Section_UnknownKey_Throws_NamingIt()
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Kubernetes:ApiServr"] = "http://127.0.0.1:9" }).Build().GetSection("Kubernetes");

        var error = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddReverseProxy().AddKubernetesDestinations(section));

        Assert.Contains("ApiServr", error.Message, StringComparison.Ordinal);
    }

    private sealed class SuffixResolver : IDestinationResolver
    {
        public ValueTask<ResolvedDestinationCollection> ResolveDestinationsAsync(IReadOnlyDictionary<string, DestinationConfig> destinations, CancellationToken cancellationToken) =>
            new(new ResolvedDestinationCollection(destinations.ToDictionary(d => d.Key + "-resolved", d => d.Value), new CancellationChangeToken(CancellationToken.None)));
    }
}
