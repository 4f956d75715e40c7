using System.Net;
using LoadBalancing.Kubernetes;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

namespace LoadBalancing.Yarp.Tests.Support;

/// <summary>
/// A real YARP proxy on 127.0.0.1 whose cluster <c>c</c> (route <c>/c/...</c>) has k8s:/// destinations, resolved by
/// <c>AddKubernetesDestinations</c> from Kubernetes discovery against the test API server.
/// </summary>
internal sealed class KubernetesYarpProxy : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly WebApplication _app;
    private readonly AppliedSignal _applied;

    private KubernetesYarpProxy(WebApplication app, AppliedSignal applied, Uri address)
    {
        _app = app;
        _applied = applied;
        Client = new HttpClient { BaseAddress = address, Timeout = Bound };
    }

    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    public KubernetesDiscovery Discovery => _app.Services.GetRequiredService<KubernetesDiscovery>();

    /// <summary>Discovery options for the test API server: fast publishes, reconnects and confirmations.</summary>
    public static KubernetesDiscoveryOptions Options(FakeApiServer server) => new()
    {
        ApiServer = server.Url,
        MinPublishInterval = TimeSpan.Zero,
        BackoffInitial = TimeSpan.FromMilliseconds(20),
        BackoffMax = TimeSpan.FromMilliseconds(200),
        ConfirmInterval = TimeSpan.FromMilliseconds(200),
        ConfirmGrace = TimeSpan.FromMilliseconds(100),
        ListTimeout = TimeSpan.FromSeconds(2),
        StaleAfter = TimeSpan.FromSeconds(3),
    };

    /// <summary>Starts the proxy with cluster <paramref name="cluster"/> and discovery against <paramref name="server"/>.</summary>
    public static async Task<KubernetesYarpProxy> StartAsync(FakeApiServer server, ClusterConfig cluster)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var applied = new AppliedSignal();
        builder.Services.AddSingleton<IConfigChangeListener>(applied);
        builder.Services.AddKubernetesDiscovery(Options(server));
        var route = new RouteConfig { RouteId = "route-" + cluster.ClusterId, ClusterId = cluster.ClusterId, Match = new RouteMatch { Path = $"/{cluster.ClusterId}/{{**rest}}" } };
        builder.Services.AddReverseProxy().LoadFromMemory([route], [cluster]).AddLoadBalancingPolicies().AddKubernetesDestinations();
        var app = builder.Build();
        app.MapReverseProxy(proxy =>
        {
            proxy.UseLoadBalancingFeedback();
            proxy.UseSessionAffinity();
            proxy.UseLoadBalancing();
            proxy.UsePassiveHealthChecks();
        });
        try
        {
            await app.StartAsync(TestContext.Current.CancellationToken).WaitAsync(Bound, TestContext.Current.CancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new KubernetesYarpProxy(app, applied, new Uri(bound));
    }

    /// <summary>A cluster <c>c</c> with one destination <c>web</c> at <paramref name="address"/>.</summary>
    public static ClusterConfig Cluster(string address, string? policy = null, Dictionary<string, string>? metadata = null) => new()
    {
        ClusterId = "c",
        LoadBalancingPolicy = policy,
        Metadata = metadata,
        Destinations = new Dictionary<string, DestinationConfig>(StringComparer.OrdinalIgnoreCase) { ["web"] = new DestinationConfig { Address = address } },
    };

    /// <summary>The EndpointSlice of one pod: the backend's IP with its own port (backends listen on different ports).</summary>
    public static System.Text.Json.Nodes.JsonObject PodSlice(TestBackend backend, bool? ready = true, bool? serving = null, bool? terminating = null, string? zone = null)
    {
        var (ip, port) = IpAndPort(backend);
        return Slices.Slice("web-" + backend.Name, "web", [new Slices.Ep([ip], ready, serving, terminating, zone)], [("http", port)]);
    }

    public static (string Ip, int Port) IpAndPort(TestBackend backend)
    {
        var endpoint = IPEndPoint.Parse(backend.Address);
        return (endpoint.Address.ToString(), endpoint.Port);
    }

    /// <summary>Cluster <c>c</c>'s destinations now.</summary>
    public IReadOnlyList<DestinationState> Destinations() =>
        _app.Services.GetRequiredService<IProxyStateLookup>().TryGetCluster("c", out var cluster)
            ? [.. cluster.Destinations.Values.OrderBy(d => d.DestinationId, StringComparer.Ordinal)]
            : [];

    /// <summary>Waits until YARP has applied a configuration whose cluster <c>c</c> has destinations meeting <paramref name="condition"/>.</summary>
    public async Task<IReadOnlyList<DestinationState>> WaitForDestinationsAsync(Func<IReadOnlyList<DestinationState>, bool> condition)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(Bound);
        while (true)
        {
            // Taken before the check: an apply between the check and the wait is not missed.
            var next = _applied.Next;
            var destinations = Destinations();
            if (condition(destinations))
            {
                return destinations;
            }

            try
            {
                await next.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Cluster c's destinations did not meet the condition within {Bound.TotalSeconds} s; they are: {string.Join(", ", Destinations().Select(d => d.DestinationId + "=" + d.Model.Config.Address))}");
            }
        }
    }

    /// <summary>Waits until the destinations are exactly the pods of <paramref name="backends"/>.</summary>
    public Task<IReadOnlyList<DestinationState>> WaitForPodsAsync(params TestBackend[] backends)
    {
        var wanted = backends.Select(b => $"http://{b.Address}/").Order(StringComparer.Ordinal).ToArray();
        return WaitForDestinationsAsync(d => d.Select(x => x.Model.Config.Address).Order(StringComparer.Ordinal).SequenceEqual(wanted));
    }

    /// <summary>Sends one GET and returns the status and the body (the backend's name).</summary>
    public async Task<(HttpStatusCode Status, string Body)> GetAsync(string path, string? header = null, string? value = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (header is not null)
        {
            request.Headers.TryAddWithoutValidation(header, value);
        }

        using var response = await Client.SendAsync(request, TestContext.Current.CancellationToken);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>Sends <paramref name="count"/> GETs to <c>/c/</c> and returns who answered each.</summary>
    public async Task<List<string>> WhoAnswersAsync(int count)
    {
        var answered = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            var (status, body) = await GetAsync("/c/x");
            Assert.Equal(HttpStatusCode.OK, status);
            answered.Add(body);
        }

        return answered;
    }

    /// <summary>Polls discovery's readiness check until it reports <paramref name="status"/>, within the bound.</summary>
    public async Task<HealthReport> WaitForHealthAsync(HealthStatus status)
    {
        var health = _app.Services.GetRequiredService<HealthCheckService>();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(Bound);
        while (true)
        {
            var report = await health.CheckHealthAsync(r => r.Tags.Contains("ready"), deadline.Token);
            if (report.Status == status)
            {
                return report;
            }

            // Freshness is computed from timestamps on each call: nothing signals it, so it is polled.
            await Task.Delay(50, deadline.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }

    /// <summary>Completes <see cref="Next"/> each time YARP applies a configuration.</summary>
    private sealed class AppliedSignal : IConfigChangeListener
    {
        private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Next => Volatile.Read(ref _next).Task;

        public void ConfigurationLoadingFailed(IProxyConfigProvider configProvider, Exception exception) => Signal();

        public void ConfigurationLoaded(IReadOnlyList<IProxyConfig> proxyConfigs)
        {
        }

        public void ConfigurationApplyingFailed(IReadOnlyList<IProxyConfig> proxyConfigs, Exception exception) => Signal();

        public void ConfigurationApplied(IReadOnlyList<IProxyConfig> proxyConfigs) => Signal();

        private void Signal() => Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }
}
