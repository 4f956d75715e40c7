using System.Net;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ProxyHost.Tests;

/// <summary>
/// LoadBalancing.Proxy.Kubernetes as an embedding application uses it: one call feeds the proxy's Service-named
/// clusters from discovery, against a test API server over loopback.
/// </summary>
public sealed class EmbeddedKubernetesTests
{
    [Fact]
    public async Task UseKubernetesDiscovery_FeedsServiceClusters_FromEndpointSlices()
    {
        await using var pod = await TestBackend.StartAsync("pod-a", "127.0.0.8");
        await using var api = await FakeApiServer.StartAsync();
        var port = int.Parse(pod.Address.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        api.Apply("shop", Slices.Slice("web-1", "web", [new(["127.0.0.8"])], [("http", port)]));
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Proxy:Listeners:0:Url"] = "http://127.0.0.1:0",
            ["Proxy:Admin:Url"] = "http://127.0.0.1:0",
            ["Proxy:Routes:0:Path"] = "/",
            ["Proxy:Routes:0:Cluster"] = "web",
            ["Proxy:Clusters:web:Kubernetes:Namespace"] = "shop",
            ["Proxy:Clusters:web:Kubernetes:Service"] = "web",
            ["Proxy:Clusters:web:Kubernetes:Port"] = "http",
            ["Kubernetes:ApiServer"] = api.Url,
        }).Build();

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var options = ProxyConfiguration.Load(configuration.GetSection("Proxy"));
        builder.Services.AddLoadBalancingProxy(options).UseKubernetesDiscovery(configuration.GetSection("Kubernetes"));
        builder.WebHost.UseLoadBalancingProxyListeners(options);
        await using var app = builder.Build();
        app.UseLoadBalancingProxy();
        await app.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var listeners = app.Services.GetRequiredService<ProxyListeners>();
            using var client = new HttpClient { BaseAddress = new Uri($"http://{listeners.ProxyEndPoint}/"), Timeout = TimeSpan.FromSeconds(30) };
            using var admin = new HttpClient { BaseAddress = new Uri($"http://{listeners.AdminEndPoint}/"), Timeout = TimeSpan.FromSeconds(30) };

            // Discovery's hosted service waited for the first list before the listeners opened.
            Assert.Equal("pod-a", await client.GetStringAsync("/", TestContext.Current.CancellationToken));
            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("readyz", TestContext.Current.CancellationToken)).StatusCode);
            var backends = await admin.GetStringAsync("backends", TestContext.Current.CancellationToken);
            Assert.Contains("\"freshness\": \"current\"", backends, StringComparison.Ordinal);
            using var json = System.Text.Json.JsonDocument.Parse(backends);
            var source = json.RootElement.GetProperty("clusters")[0].GetProperty("source");
            Assert.Equal(("KubernetesService", "shop", "web", "http"), (source.GetProperty("kind").GetString(), source.GetProperty("namespace").GetString(), source.GetProperty("service").GetString(), source.GetProperty("port").GetString()));
        }
        finally
        {
            await app.StopAsync(TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public void UseKubernetesDiscovery_RefusesABadSection_NamingEveryKey()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kubernetes:ApiServer"] = "http://127.0.0.1:1",
            ["Kubernetes:StaleAfter"] = "3m",
            ["Kubernetes:WatchIdleTimout"] = "00:01:00",
        }).Build();
        var options = new ProxyOptions();
        options.Listeners.Add(new ListenerOptions { Url = "http://127.0.0.1:0" });
        options.Routes.Add(new ProxyRouteOptions { Path = "/", Cluster = "web" });
        options.Clusters["web"] = new ClusterOptions { Kubernetes = new KubernetesServiceOptions { Namespace = "shop", Service = "web" } };
        var services = new ServiceCollection();

        var error = Assert.Throws<ProxyConfigurationException>(() => services.AddLoadBalancingProxy(options).UseKubernetesDiscovery(configuration.GetSection("Kubernetes")));

        Assert.Contains(error.Errors, e => e.StartsWith("Kubernetes:StaleAfter: '3m' is not a duration", StringComparison.Ordinal));
        Assert.Contains(error.Errors, e => e.StartsWith("Kubernetes:WatchIdleTimout: unknown key", StringComparison.Ordinal));
    }
}
