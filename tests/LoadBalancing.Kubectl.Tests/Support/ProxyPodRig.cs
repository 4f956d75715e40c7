using System.Globalization;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using ProxyHost;

namespace LoadBalancing.Kubectl.Tests.Support;

/// <summary>
/// One proxy "pod": ProxyHost in-process with its admin port on the pod's IP (127.0.0.31), a Pod object for it in the
/// test API server (namespace <c>edge</c>, label <c>app=lb-proxy</c>), and Service <c>shop/web</c> with one
/// backend whose EndpointSlice feeds the cluster <c>web</c>; an Ingress for the same Service adds a route source.
/// Discovery confirms its view only every 30 minutes, so a slice changed silently stays unknown to the proxy.
/// </summary>
internal sealed class ProxyPodRig : IAsyncDisposable
{
    public const string PodIp = "127.0.0.31";
    public const string BackendIp = "127.0.0.21";

    private readonly string _file;
    private readonly List<(WebApplication App, string File)> _replicas = [];

    private ProxyPodRig(FakeApiServer api, TestBackend backend, WebApplication app, string file, int backendPort, int adminPort)
    {
        Api = api;
        Backend = backend;
        App = app;
        _file = file;
        BackendPort = backendPort;
        AdminPort = adminPort;
    }

    public FakeApiServer Api { get; }

    public TestBackend Backend { get; }

    public WebApplication App { get; }

    public int BackendPort { get; }

    public int AdminPort { get; }

    /// <summary>The flags every kubectl lb call in the tests takes.</summary>
    public string[] Flags => ["--api-server", Api.Url, "-n", "edge", "--admin-port", AdminPort.ToString(CultureInfo.InvariantCulture)];

    /// <summary>Starts the rig; <paramref name="proxyExtras"/> and <paramref name="clusterExtras"/> are JSON members added to the proxy's section and to its web cluster.</summary>
    public static async Task<ProxyPodRig> StartAsync(CancellationToken cancellationToken, string proxyExtras = "", string clusterExtras = "")
    {
        var backend = await TestBackend.StartAsync("web-1", BackendIp);
        var api = await FakeApiServer.StartAsync();
        var backendPort = int.Parse(backend.Address.Split(':')[1], CultureInfo.InvariantCulture);
        api.Apply(ApiResource.Services, Objects.Service("web", [new Objects.ServicePort("http", 80, backendPort)], "shop"));
        api.Apply("shop", WebSlice(backendPort, BackendIp));
        api.Apply(ApiResource.IngressClasses, Objects.IngressClass("lb", "loadbalancing.dev/ingress-controller"));
        api.Apply(ApiResource.Ingresses, Objects.Ingress(
            "web", [new Objects.IngressRule("web.test", new Objects.IngressPath("/", new Objects.IngressBackend("web", Port: 80)))], ns: "shop", ingressClassName: "lb"));

        try
        {
            var (app, file) = await StartProxyAsync(api, PodIp, 0, cancellationToken, proxyExtras, clusterExtras);
            var adminPort = app.Services.GetRequiredService<ProxyListeners>().AdminEndPoint!.Port;
            api.Apply(ApiResource.Pods, Objects.Pod("lb-proxy-0", "edge", new Dictionary<string, string> { ["app"] = "lb-proxy" }, PodIp));
            return new ProxyPodRig(api, backend, app, file, backendPort, adminPort);
        }
        catch
        {
            await api.DisposeAsync();
            await backend.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Another replica, <paramref name="pod"/> at <paramref name="ip"/>, with its admin port on the same port number as
    /// the first (as every replica of a Deployment has); it lists the slices as they are now.
    /// </summary>
    public async Task AddReplicaAsync(string pod, string ip, CancellationToken cancellationToken)
    {
        var (app, file) = await StartProxyAsync(Api, ip, AdminPort, cancellationToken);
        _replicas.Add((app, file));
        Api.Apply(ApiResource.Pods, Objects.Pod(pod, "edge", new Dictionary<string, string> { ["app"] = "lb-proxy" }, ip));
    }

    private static async Task<(WebApplication App, string File)> StartProxyAsync(FakeApiServer api, string ip, int adminPort, CancellationToken cancellationToken, string proxyExtras = "", string clusterExtras = "")
    {
        var file = Path.Combine(Path.GetTempPath(), $"kubectl-lb-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, $$"""
            {
              "Kubernetes": {
                "ApiServer": "{{api.Url}}", "ConfirmInterval": "00:30:00", "StaleAfter": "01:00:00", "WedgedAfter": "02:00:00",
                "Ingress": { "Enabled": true }
              },
              "Proxy": {
                {{proxyExtras}}
                "Listeners": [ { "Url": "http://{{ip}}:0" } ],
                "Admin": { "Url": "http://{{ip}}:{{adminPort}}" },
                "Routes": [ { "Name": "web-by-config", "Path": "/config-route", "Cluster": "web" } ],
                "Clusters": { "web": { {{clusterExtras}} "Algorithm": "PeakEwma", "Kubernetes": { "Namespace": "shop", "Service": "web", "Port": "http" } } }
              }
            }
            """, cancellationToken);
        WebApplication? app = null;
        try
        {
            (app, _) = await ProxyHostApp.BuildAsync(["--config", file]);
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bounded.CancelAfter(TimeSpan.FromSeconds(30));
            await app.StartAsync(bounded.Token); // waits for the first list and the ingress controller's first routes
            return (app, file);
        }
        catch
        {
            if (app is not null)
            {
                await app.DisposeAsync();
            }

            File.Delete(file);
            throw;
        }
    }

    /// <summary>The Service's one slice, with the given endpoint addresses (all ready).</summary>
    public static System.Text.Json.Nodes.JsonObject WebSlice(int port, params string[] addresses) =>
        Slices.Slice("web-1", "web", [.. addresses.Select(a => new Slices.Ep([a]))], [("http", port)]);

    /// <summary>Runs kubectl lb in-process with <see cref="Flags"/> appended.</summary>
    public Task<(int ExitCode, string Output, string Error)> KubectlAsync(params string[] args) => RunAsync([.. args, .. Flags]);

    /// <summary>Runs kubectl lb in-process with exactly <paramref name="args"/>.</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        var code = await KubectlLb.RunAsync(args, output, error, TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        return (code, output.ToString(), error.ToString());
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (app, file) in _replicas)
        {
            await app.StopAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
            await app.DisposeAsync();
            File.Delete(file);
        }

        await App.StopAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        await App.DisposeAsync();
        await Api.DisposeAsync();
        await Backend.DisposeAsync();
        File.Delete(_file);
    }
}
