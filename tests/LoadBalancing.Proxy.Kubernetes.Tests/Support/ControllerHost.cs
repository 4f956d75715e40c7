using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Kubernetes.Controller;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Support;

/// <summary>
/// A proxy embedded as an application embeds it, configured only through the <c>Proxy</c> and <c>Kubernetes</c>
/// sections (defaults everywhere else), pointed at a test API server; with clients for its proxy and admin ports.
/// </summary>
internal sealed class ControllerHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ControllerHost(WebApplication app, HttpClient client, HttpClient admin)
    {
        _app = app;
        Listeners = app.Services.GetRequiredService<ProxyListeners>();
        Client = client;
        Admin = admin;
    }

    public HttpClient Client { get; }

    public HttpClient Admin { get; }

    public ProxyListeners Listeners { get; }

    public KubernetesControllers Controllers => _app.Services.GetRequiredService<KubernetesControllers>();

    public static async Task<ControllerHost> StartAsync(FakeApiServer api, IDictionary<string, string?> settings)
    {
        var all = new Dictionary<string, string?>
        {
            ["Proxy:Listeners:0:Url"] = "http://127.0.0.1:0",
            ["Proxy:Admin:Url"] = "http://127.0.0.1:0",
            ["Kubernetes:ApiServer"] = api.Url,
        };
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(all).Build();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var options = ProxyConfiguration.Load(configuration.GetSection("Proxy"));
        builder.Services.AddLoadBalancingProxy(options).UseKubernetesDiscovery(configuration.GetSection("Kubernetes"));
        builder.WebHost.UseLoadBalancingProxyListeners(options);
        var app = builder.Build();
        app.UseLoadBalancingProxy();
        await app.StartAsync(TestContext.Current.CancellationToken);
        var listeners = app.Services.GetRequiredService<ProxyListeners>();
        var client = new HttpClient { BaseAddress = new Uri($"http://{listeners.ProxyEndPoint}/"), Timeout = TimeSpan.FromSeconds(30) };
        var admin = new HttpClient { BaseAddress = new Uri($"http://{listeners.AdminEndPoint}/"), Timeout = TimeSpan.FromSeconds(30) };
        return new ControllerHost(app, client, admin);
    }

    /// <summary>
    /// A Gateway API controller for <paramref name="controllerName"/> whose proxy serves each of <paramref name="gatewayPorts"/>
    /// (Gateway listener ports) on a local port of its own, at the listeners' default protocols; returns the map.
    /// </summary>
    public static async Task<(ControllerHost Host, Dictionary<int, int> LocalPorts)> StartGatewayAsync(FakeApiServer api, string controllerName, IReadOnlyList<int> gatewayPorts)
    {
        // Free local ports, all held until each is known so that no two are the same.
        var probes = gatewayPorts.Select(_ => new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0)).ToArray();
        var localPorts = new Dictionary<int, int>();
        var settings = new Dictionary<string, string?>
        {
            ["Kubernetes:Gateway:Enabled"] = "true",
            ["Kubernetes:Gateway:ControllerName"] = controllerName,
            ["Kubernetes:Status:Addresses:0"] = "203.0.113.9",
        };
        for (var i = 0; i < probes.Length; i++)
        {
            probes[i].Start();
            var local = ((System.Net.IPEndPoint)probes[i].LocalEndpoint).Port;
            localPorts[gatewayPorts[i]] = local;
            settings[$"Proxy:Listeners:{i}:Url"] = $"http://127.0.0.1:{local}";
            settings[$"Kubernetes:Gateway:ListenerPorts:{gatewayPorts[i]}"] = local.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        foreach (var probe in probes)
        {
            probe.Dispose();
        }

        return (await StartAsync(api, settings), localPorts);
    }

    /// <summary>A loopback port free now, for a listener whose port must be known before it starts (a Gateway listener maps to it).</summary>
    public static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        return ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>GET <paramref name="path"/> with <paramref name="host"/>: the status and the body.</summary>
    public async Task<(int Status, string Body)> GetAsync(string host, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = host;
        using var response = await Client.SendAsync(request, TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>
    /// Waits rebuild by rebuild (bounded) until <paramref name="check"/> holds: the controller also rebuilds after
    /// its own status writes, so the first rebuild after a change is not always the one that read it.
    /// </summary>
    public static Task UntilAsync(RoutingController controller, Func<Task<bool>> check) => UntilAsync(() => controller.NextRebuild, check);

    /// <summary>Waits event by event (bounded) until <paramref name="check"/> holds; <paramref name="next"/> is the next such event.</summary>
    public static async Task UntilAsync(Func<Task> next, Func<Task<bool>> check)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        bound.CancelAfter(TimeSpan.FromSeconds(20));
        while (true)
        {
            var rebuilt = next();
            if (await check())
            {
                return;
            }

            await rebuilt.WaitAsync(bound.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        Admin.Dispose();
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
