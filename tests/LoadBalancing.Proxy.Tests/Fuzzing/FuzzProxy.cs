using System.Net;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Tests.Fuzzing;

/// <summary>
/// The real proxy, started like <c>Support/TestProxy</c> but through the public API only, so the long-run
/// console (which cannot see the proxy's internals) links this file as it is.
/// </summary>
internal sealed class FuzzProxy : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FuzzProxy(WebApplication app, IPEndPoint endPoint) => (_app, EndPoint) = (app, endPoint);

    public IPEndPoint EndPoint { get; }

    public static async Task<FuzzProxy> StartAsync(string upstream)
    {
        var options = new ProxyOptions();
        options.Listeners.Add(new ListenerOptions { Url = "http://127.0.0.1:0" });
        options.Admin.Enabled = false;
        options.Routes.Add(new ProxyRouteOptions { Path = "/", Cluster = "web" });
        var cluster = new ClusterOptions
        {
            // One endpoint that misbehaves on purpose: retries and ejection would only hide what the case did.
            MaxAttempts = 1,
            ResponseHeaderTimeout = TimeSpan.FromSeconds(5),
            IdleTimeout = TimeSpan.FromSeconds(5),
            OutlierDetection = new OutlierDetectionOptions { Enabled = false },
        };
        cluster.Endpoints.Add(new EndpointOptions { Address = upstream });
        options.Clusters["web"] = cluster;

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        TestTransport.Apply(options);
        builder.Services.AddLoadBalancingProxy(options);
        builder.WebHost.UseLoadBalancingProxyListeners(options);
        var app = builder.Build();
        app.UseLoadBalancingProxy();
        await app.StartAsync();
        return new FuzzProxy(app, app.Services.GetRequiredService<ProxyListeners>().ProxyEndPoint!);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
