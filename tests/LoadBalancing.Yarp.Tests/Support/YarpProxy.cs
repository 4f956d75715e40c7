using LoadBalancing.Proxy.Tests.Support;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;

namespace LoadBalancing.Yarp.Tests.Support;

/// <summary>
/// A real YARP proxy on 127.0.0.1 with the LoadBalancing policies, one route per cluster (<c>/{clusterId}/...</c>),
/// configured in memory; <see cref="UpdateAsync"/> swaps the configuration and waits until YARP has applied it.
/// </summary>
internal sealed class YarpProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly AppliedListener _applied;

    private YarpProxy(WebApplication app, AppliedListener applied, Uri address)
    {
        _app = app;
        _applied = applied;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(20) };
    }

    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<YarpProxy> StartAsync(IReadOnlyList<ClusterConfig> clusters, Action<YarpLoadBalancingOptions>? configure = null, bool feedback = true)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var applied = new AppliedListener();
        builder.Services.AddSingleton<IConfigChangeListener>(applied);
        builder.Services.AddReverseProxy().LoadFromMemory(Routes(clusters), clusters).AddLoadBalancingPolicies(configure);
        var app = builder.Build();
        app.MapReverseProxy(proxy =>
        {
            if (feedback)
            {
                proxy.UseLoadBalancingFeedback();
            }

            proxy.UseSessionAffinity();
            proxy.UseLoadBalancing();
            proxy.UsePassiveHealthChecks();
        });
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new YarpProxy(app, applied, new Uri(bound));
    }

    /// <summary>A cluster of <paramref name="backends"/>, destination ids = backend names.</summary>
    public static ClusterConfig Cluster(string id, string policy, IEnumerable<TestBackend> backends, Dictionary<string, string>? metadata = null, Func<TestBackend, Dictionary<string, string>?>? destinationMetadata = null) => new()
    {
        ClusterId = id,
        LoadBalancingPolicy = policy,
        Metadata = metadata,
        Destinations = backends.ToDictionary(
            b => b.Name,
            b => new DestinationConfig { Address = $"http://{b.Address}/", Metadata = destinationMetadata?.Invoke(b) },
            StringComparer.OrdinalIgnoreCase),
    };

    /// <summary>Replaces the configuration and returns once YARP has applied it (or throws if it refused it).</summary>
    public async Task UpdateAsync(IReadOnlyList<ClusterConfig> clusters)
    {
        var next = _applied.Next();
        _app.Services.GetRequiredService<InMemoryConfigProvider>().Update(Routes(clusters), clusters);
        await next.WaitAsync(TimeSpan.FromSeconds(20));
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

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static RouteConfig[] Routes(IReadOnlyList<ClusterConfig> clusters) =>
        clusters.Select(c => new RouteConfig { RouteId = "route-" + c.ClusterId, ClusterId = c.ClusterId, Match = new RouteMatch { Path = $"/{c.ClusterId}/{{**rest}}" } }).ToArray();

    private sealed class AppliedListener : IConfigChangeListener
    {
        private readonly Lock _lock = new();
        private TaskCompletionSource? _next;

        public Task Next()
        {
            lock (_lock)
            {
                _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                return _next.Task;
            }
        }

        public void ConfigurationLoadingFailed(IProxyConfigProvider configProvider, Exception exception) => Fail(exception);

        public void ConfigurationLoaded(IReadOnlyList<IProxyConfig> proxyConfigs)
        {
        }

        public void ConfigurationApplyingFailed(IReadOnlyList<IProxyConfig> proxyConfigs, Exception exception) => Fail(exception);

        public void ConfigurationApplied(IReadOnlyList<IProxyConfig> proxyConfigs)
        {
            lock (_lock)
            {
                _next?.TrySetResult();
            }
        }

        private void Fail(Exception exception)
        {
            lock (_lock)
            {
                _next?.TrySetException(exception);
            }
        }
    }
}
