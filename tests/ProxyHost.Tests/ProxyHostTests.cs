using System.Net;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace ProxyHost.Tests;

/// <summary>The runnable host as the README starts it, with its ports moved to free ones.</summary>
public sealed class ProxyHostTests
{
    private static readonly string[] FreePorts = ["--Proxy:Listeners:0:Url=http://127.0.0.1:0", "--Proxy:Admin:Url=http://127.0.0.1:0"];

    [Fact]
    public async Task Demo_AnswersFromItsBuiltInBackends_BalancedWithPeakEwma()
    {
        var (app, backends) = await ProxyHostApp.BuildAsync(FreePorts);
        await using var _ = backends;
        await app.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var listeners = app.Services.GetRequiredService<ProxyListeners>();
            using var client = new HttpClient { BaseAddress = new Uri($"http://{listeners.ProxyEndPoint}/") };
            var answers = new List<string>();
            for (var i = 0; i < 30; i++)
            {
                answers.Add(await client.GetStringAsync("/hello", TestContext.Current.CancellationToken));
            }

            Assert.Equal(3, backends!.Addresses.Count);
            Assert.All(answers, a => Assert.Matches(@"^backend-[123] \(127\.0\.0\.1:\d+\) answered GET /hello\n$", a));
            using var admin = new HttpClient { BaseAddress = new Uri($"http://{listeners.AdminEndPoint}/") };
            Assert.Contains("\"algorithm\": \"PeakEwma\"", await admin.GetStringAsync("backends", TestContext.Current.CancellationToken), StringComparison.Ordinal);
        }
        finally
        {
            await app.StopAsync(TestContext.Current.CancellationToken);
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task BadConfiguration_FailsAtStartUp_NamingTheKey()
    {
        var error = await Assert.ThrowsAsync<ProxyConfigurationException>(() =>
            ProxyHostApp.BuildAsync([.. FreePorts, "--Proxy:Clusters:demo:Algorithm=Fastest"]));

        Assert.Contains("Proxy:Clusters:demo:Algorithm", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigFile_ReplacesTheDemo_AndAMissingFileIsNamed()
    {
        await using var backend = await TestBackend.StartAsync("from-file", "127.0.0.5");
        var file = Path.Combine(Path.GetTempPath(), $"proxyhost-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, $$"""
            {
              "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:0" } ],
                "Admin": { "Url": "http://127.0.0.1:0" },
                "Routes": [ { "Path": "/", "Cluster": "files" } ],
                "Clusters": { "files": { "Algorithm": "LeastRequest", "Endpoints": [ { "Address": "{{backend.Address}}" } ] } }
              }
            }
            """, TestContext.Current.CancellationToken);
        try
        {
            var (app, backends) = await ProxyHostApp.BuildAsync(["--config", file]);
            Assert.Null(backends);
            await app.StartAsync(TestContext.Current.CancellationToken);
            var listeners = app.Services.GetRequiredService<ProxyListeners>();
            using var client = new HttpClient { BaseAddress = new Uri($"http://{listeners.ProxyEndPoint}/") };
            Assert.Equal("from-file", await client.GetStringAsync("/", TestContext.Current.CancellationToken));
            await app.StopAsync(TestContext.Current.CancellationToken);
            await app.DisposeAsync();
        }
        finally
        {
            File.Delete(file);
        }

        var missing = await Assert.ThrowsAsync<ProxyConfigurationException>(() => ProxyHostApp.BuildAsync(["--config", file]));
        Assert.Contains("--config: file", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KubernetesFedCluster_RoutesToThePodsDiscovery_Finds()
    {
        await using var pod = await TestBackend.StartAsync("pod-a", "127.0.0.6");
        await using var api = await LoadBalancing.Kubernetes.Tests.Support.FakeApiServer.StartAsync();
        var podPort = int.Parse(pod.Address.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        api.Apply("shop", LoadBalancing.Kubernetes.Tests.Support.Slices.Slice("web-x1", "web", [new(["127.0.0.6"])], [("http", podPort)]));
        var file = Path.Combine(Path.GetTempPath(), $"proxyhost-k8s-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, $$"""
            {
              "Kubernetes": { "ApiServer": "{{api.Url}}", "WatchIdleTimeout": "00:01:30", "StaleAfter": "00:03:00" },
              "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:0" } ],
                "Admin": { "Url": "http://127.0.0.1:0" },
                "Routes": [ { "Path": "/", "Cluster": "web" } ],
                "Clusters": { "web": { "Algorithm": "LeastRequest", "Kubernetes": { "Namespace": "shop", "Service": "web", "Port": "http" } } }
              }
            }
            """, TestContext.Current.CancellationToken);
        try
        {
            var (app, _) = await ProxyHostApp.BuildAsync(["--config", file]);
            await app.StartAsync(TestContext.Current.CancellationToken); // waits for the first list
            var listeners = app.Services.GetRequiredService<ProxyListeners>();
            using var client = new HttpClient { BaseAddress = new Uri($"http://{listeners.ProxyEndPoint}/") };
            using var admin = new HttpClient { BaseAddress = new Uri($"http://{listeners.AdminEndPoint}/") };

            Assert.Equal("pod-a", await client.GetStringAsync("/", TestContext.Current.CancellationToken));
            Assert.Equal(System.Net.HttpStatusCode.OK, (await admin.GetAsync("readyz", TestContext.Current.CancellationToken)).StatusCode);
            var metrics = await admin.GetStringAsync("metrics", TestContext.Current.CancellationToken);
            Assert.Contains("lb_kubernetes_relists_total{namespace=\"shop\"} 1", metrics, StringComparison.Ordinal);
            Assert.Contains("lb_kubernetes_view_age_seconds{namespace=\"shop\"}", metrics, StringComparison.Ordinal);
            Assert.Contains("\"discovery\": \"dynamic\"", await admin.GetStringAsync("backends", TestContext.Current.CancellationToken), StringComparison.Ordinal);
            await app.StopAsync(TestContext.Current.CancellationToken);
            await app.DisposeAsync();
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task AsIngressAndGatewayController_RoutesTheClustersObjects_FromOneConfigFile()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.7");
        await using var api = await TestBackend.StartAsync("api", "127.0.0.8");
        await using var server = await FakeApiServer.StartAsync();
        foreach (var (name, backend) in new[] { ("web", web), ("api", api) })
        {
            var port = int.Parse(backend.Address.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
            server.Apply(ApiResource.Services, Objects.Service(name, [new Objects.ServicePort("http", 80, port)], "shop"));
            server.Apply("shop", Slices.Slice($"{name}-1", name, [new([backend.Address.Split(':')[0]])], [("http", port)]));
        }

        server.Apply(ApiResource.IngressClasses, Objects.IngressClass("lb", "loadbalancing.dev/ingress-controller"));
        server.Apply(ApiResource.Ingresses, Objects.Ingress(
            "web", [new Objects.IngressRule("web.test", new Objects.IngressPath("/", new Objects.IngressBackend("web", Port: 80)))], ns: "shop", ingressClassName: "lb"));
        server.Apply(ApiResource.GatewayClasses, Objects.GatewayClass("lb", "loadbalancing.dev/gateway-controller"));
        server.Apply(ApiResource.Gateways, Objects.Gateway("gw", "lb", [new Objects.Listener("http", 80)], ns: "shop"));
        server.Apply(ApiResource.HttpRoutes, Objects.HttpRoute(
            "api", [new Objects.ParentRef("gw")], [new Objects.RouteRule(BackendRefs: [new Objects.BackendRef("api", 80)])], hostnames: ["api.test"], ns: "shop"));

        var proxyPort = ConfigErrorTests.FreePort();
        var file = Path.Combine(Path.GetTempPath(), $"proxyhost-controller-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, $$"""
            {
              "Proxy": { "Listeners": [ { "Url": "http://127.0.0.1:{{proxyPort}}" } ], "Admin": { "Url": "http://127.0.0.1:0" } },
              "Kubernetes": {
                "ApiServer": "{{server.Url}}",
                "Ingress": { "Enabled": true },
                "Gateway": { "Enabled": true, "ListenerPorts": { "80": {{proxyPort}} } },
                "Status": { "Addresses": [ "203.0.113.5" ], "Identity": "proxyhost-0" }
              }
            }
            """, TestContext.Current.CancellationToken);
        try
        {
            var (app, _) = await ProxyHostApp.BuildAsync(["--config", file]);
            await app.StartAsync(TestContext.Current.CancellationToken); // waits for the controllers' first routes
            var listeners = app.Services.GetRequiredService<ProxyListeners>();
            using var client = new HttpClient { BaseAddress = new Uri($"http://{listeners.ProxyEndPoint}/") };
            using var admin = new HttpClient { BaseAddress = new Uri($"http://{listeners.AdminEndPoint}/") };

            Assert.Equal("web", await GetAsync(client, "web.test"));
            Assert.Equal("api", await GetAsync(client, "api.test"));
            Assert.Equal(System.Net.HttpStatusCode.OK, (await admin.GetAsync("readyz", TestContext.Current.CancellationToken)).StatusCode);
            await server.WaitForAsync(ApiResource.Ingresses, "shop", "web", o => o?["status"]?["loadBalancer"] is not null, TestContext.Current.CancellationToken)
                .WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
            await server.WaitForAsync(ApiResource.HttpRoutes, "shop", "api", o => o?["status"]?["parents"] is not null, TestContext.Current.CancellationToken)
                .WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
            await app.StopAsync(TestContext.Current.CancellationToken);
            await app.DisposeAsync();
        }
        finally
        {
            File.Delete(file);
        }

        static async Task<string> GetAsync(HttpClient client, string host)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/");
            request.Headers.Host = host;
            using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
            return await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        }
    }


    [Fact]
    public async Task KubernetesSectionWithoutAnyFedCluster_IsAConfigurationError()
    {
        var error = await Assert.ThrowsAsync<ProxyConfigurationException>(() =>
            ProxyHostApp.BuildAsync([.. FreePorts, "--Kubernetes:ApiServer=http://127.0.0.1:8001"]));

        Assert.Contains("Kubernetes: no cluster names a Kubernetes Service", error.Message, StringComparison.Ordinal);
    }
}
