using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using LoadBalancing.Kubernetes;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using static LoadBalancing.Kubernetes.Tests.Support.Slices;

namespace ProxyHost.Tests.Outage;

/// <summary>A pod: a real HTTP server on its own loopback address, and its EndpointSlice conditions.</summary>
internal sealed record Pod(string Name, string Ip, TestBackend Server)
{
    public bool Ready { get; set; } = true;

    public bool Terminating { get; set; }
}

/// <summary>
/// The outage, on loopback: a fake API server, two Services ("checkout" and "catalog") whose pods are real
/// HTTP servers on distinct 127.x.y.z addresses, an optional "ClusterIP" server for the fallback, and the real
/// ProxyHost following the Services through discovery.
/// </summary>
internal sealed class OutageRig : IAsyncDisposable
{
    public const string Namespace = "prod";
    public static readonly string[] Services = ["checkout", "catalog"];

    private readonly Dictionary<string, List<Pod>> _pods = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _ports = new(StringComparer.Ordinal);
    private readonly List<TestBackend> _stopped = [];
    private int _nextPod;
    private string? _configFile;

    private OutageRig(FakeApiServer api) => Api = api;

    public FakeApiServer Api { get; }

    public WebApplication App { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    public HttpClient Admin { get; private set; } = null!;

    public TestBackend? ClusterIp { get; private set; }

    public KubernetesDiscovery Discovery => App.Services.GetRequiredService<KubernetesDiscovery>();

    public IReadOnlyList<Pod> Pods(string service) => _pods[service];

    /// <summary>Starts three pods per Service, the API server's slices, and the proxy.</summary>
    /// <param name="fallback">Whether the clusters have a fallback (a stand-in ClusterIP).</param>
    /// <param name="kubernetes">Changes to the discovery settings.</param>
    /// <param name="podsPerService">Pods per Service.</param>
    /// <param name="defaults">
    /// Discovery with its default timings (only the API server named), as a user runs it; otherwise timings shortened
    /// about twentyfold, so that a scenario about causes and signals takes seconds.
    /// </param>
    public static async Task<OutageRig> StartAsync(bool fallback, Action<Dictionary<string, object>>? kubernetes = null, int podsPerService = 3, bool defaults = false)
    {
        var rig = new OutageRig(await FakeApiServer.StartAsync());
        var octet = 1;
        foreach (var service in Services)
        {
            rig._pods[service] = [];
            rig._ports[service] = FreePort($"127.0.{octet++}.1");
            for (var i = 0; i < podsPerService; i++)
            {
                rig._pods[service].Add(await rig.StartPodAsync(service));
            }

            rig.PublishSlice(service);
        }

        if (fallback)
        {
            rig.ClusterIp = await TestBackend.StartAsync("cluster-ip", "127.0.9.9");
        }

        var settings = defaults
            ? new Dictionary<string, object> { ["ApiServer"] = rig.Api.Url }
            : new Dictionary<string, object>
            {
                ["ApiServer"] = rig.Api.Url,
                ["WatchIdleTimeout"] = "00:00:01",
                ["ConfirmInterval"] = "00:00:00.500",
                ["ConfirmGrace"] = "00:00:00.300",
                ["ListTimeout"] = "00:00:02",
                ["StaleAfter"] = "00:00:03.500",
                ["WedgedAfter"] = "00:00:04",
                ["BackoffInitial"] = "00:00:00.050",
                ["BackoffMax"] = "00:00:00.400",
                ["MinPublishInterval"] = "00:00:00.020",
            };
        kubernetes?.Invoke(settings);
        rig._configFile = Path.Combine(Path.GetTempPath(), $"outage-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(rig._configFile, JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["Logging"] = new Dictionary<string, object> { ["LogLevel"] = new Dictionary<string, string> { ["Default"] = "Warning", ["LoadBalancing"] = "Error" } },
            ["Kubernetes"] = settings,
            ["Proxy"] = new Dictionary<string, object>
            {
                ["Listeners"] = new[] { new Dictionary<string, string> { ["Url"] = "http://127.0.0.1:0" } },
                ["Admin"] = new Dictionary<string, string> { ["Url"] = "http://127.0.0.1:0" },
                ["Routes"] = Services.Select(s => new Dictionary<string, string> { ["Path"] = "/" + s, ["Cluster"] = s }).ToArray(),
                ["Clusters"] = Services.ToDictionary(s => s, s =>
                {
                    var cluster = new Dictionary<string, object>
                    {
                        ["Algorithm"] = "LeastRequest",
                        ["MaxAttempts"] = 3,
                        ["ConnectTimeout"] = "00:00:01",
                        ["Kubernetes"] = new Dictionary<string, string> { ["Namespace"] = Namespace, ["Service"] = s, ["Port"] = "http" },
                        ["OutlierDetection"] = new Dictionary<string, object> { ["ConsecutiveFailures"] = 2, ["BaseEjectionTime"] = "00:00:30" },
                    };
                    if (rig.ClusterIp is { } ip)
                    {
                        cluster["Fallback"] = ip.Address;
                    }

                    return (object)cluster;
                }),
            },
        }));

        var (app, _) = await ProxyHostApp.BuildAsync(["--config", rig._configFile]);
        rig.App = app;
        await app.StartAsync(TestContext.Current.CancellationToken);
        var listeners = app.Services.GetRequiredService<ProxyListeners>();
        rig.Client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 16 }) { BaseAddress = new Uri($"http://{listeners.ProxyEndPoint}/"), Timeout = TimeSpan.FromSeconds(10) };
        rig.Admin = new HttpClient { BaseAddress = new Uri($"http://{listeners.AdminEndPoint}/"), Timeout = TimeSpan.FromSeconds(10) };
        foreach (var service in Services)
        {
            await rig.ProxySeesAsync(service, "the initial pods");
        }

        return rig;
    }

    public async Task<Pod> StartPodAsync(string service)
    {
        var index = Interlocked.Increment(ref _nextPod);
        var octet = Array.IndexOf(Services, service) + 1;
        var ip = $"127.0.{octet}.{index + 1}";
        var name = $"{service}-{index}";
        var server = await TestBackend.StartAsync(name, ip, port: _ports.GetValueOrDefault(service));
        return new Pod(name, ip, server);
    }

    /// <summary>Adds a started pod to the Service (ready).</summary>
    public void Add(string service, Pod pod)
    {
        _pods[service].Add(pod);
        PublishSlice(service);
    }

    /// <summary>Marks a pod terminating: not ready, still serving (what Kubernetes does during its grace period).</summary>
    public void Terminate(string service, Pod pod)
    {
        pod.Ready = false;
        pod.Terminating = true;
        PublishSlice(service);
    }

    /// <summary>Stops a pod's server (gracefully: in-flight requests finish) and removes it from the Service.</summary>
    public async Task RemoveAsync(string service, Pod pod, bool publish = true)
    {
        _pods[service].Remove(pod);
        if (publish)
        {
            PublishSlice(service);
        }

        await pod.Server.DisposeAsync();
    }

    public void PublishSlice(string service)
    {
        var endpoints = _pods[service].Select(p => new Ep([p.Ip], Ready: p.Ready, Serving: true, Terminating: p.Terminating)).ToArray();
        Api.Apply(Namespace, Slice($"{service}-slice", service, endpoints, [("http", _ports[service])]));
    }

    /// <summary>The endpoint list the proxy's discovery currently has for a Service.</summary>
    public string[] ProxyView(string service) =>
        [.. Discovery.GetSource(Namespace, service, "http").Current.Endpoints.Select(e => $"{e.Address}{(e.Conditions.HasFlag(LoadBalancing.EndpointConditions.Ready) ? "" : "(not ready)")}").Order(StringComparer.Ordinal)];

    /// <summary>Waits (bounded) until the proxy's view of a Service matches the pods as the API server has them.</summary>
    public async Task ProxySeesAsync(string service, string what, TimeSpan? within = null)
    {
        var expected = _pods[service].Select(p => $"{p.Ip}{(p.Ready ? "" : "(not ready)")}").Order(StringComparer.Ordinal).ToArray();
        var source = Discovery.GetSource(Namespace, service, "http");
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = source.Subscribe(_ =>
        {
            if (ProxyView(service).SequenceEqual(expected))
            {
                reached.TrySetResult();
            }
        });
        if (ProxyView(service).SequenceEqual(expected))
        {
            return;
        }

        var bound = within ?? TimeSpan.FromSeconds(20);
        try
        {
            await reached.Task.WaitAsync(bound, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException(
                $"Promise broken: the proxy's view of {service} did not converge to {what} within {bound.TotalSeconds:0} s: it has [{string.Join(", ", ProxyView(service))}], the API server has [{string.Join(", ", expected)}].");
        }
    }

    /// <summary>Stops the proxy and starts it again with the same configuration: what the kubelet's restart amounts to.</summary>
    public async Task RestartProxyAsync()
    {
        Client.Dispose();
        Admin.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        var (app, _) = await ProxyHostApp.BuildAsync(["--config", _configFile!]);
        App = app;
        await app.StartAsync(TestContext.Current.CancellationToken);
        var listeners = app.Services.GetRequiredService<ProxyListeners>();
        Client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 16 }) { BaseAddress = new Uri($"http://{listeners.ProxyEndPoint}/"), Timeout = TimeSpan.FromSeconds(10) };
        Admin = new HttpClient { BaseAddress = new Uri($"http://{listeners.AdminEndPoint}/"), Timeout = TimeSpan.FromSeconds(10) };
    }

    public async Task<(HttpStatusCode Status, string Body)> AdminAsync(string path)
    {
        using var response = await Admin.GetAsync(path, TestContext.Current.CancellationToken);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    private static int FreePort(string ip)
    {
        using var listener = new TcpListener(IPAddress.Parse(ip), 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        Admin?.Dispose();
        if (App is not null)
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }

        foreach (var pod in _pods.Values.SelectMany(p => p))
        {
            await pod.Server.DisposeAsync();
        }

        if (ClusterIp is not null)
        {
            await ClusterIp.DisposeAsync();
        }

        await Api.DisposeAsync();
        if (_configFile is not null)
        {
            File.Delete(_configFile);
        }
    }
}
