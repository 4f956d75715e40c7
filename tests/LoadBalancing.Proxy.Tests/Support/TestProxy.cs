using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>The real proxy (Kestrel inbound, our upstream client) on 127.0.0.1 with ports chosen by the OS.</summary>
internal sealed class TestProxy : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestProxy(WebApplication app)
    {
        _app = app;
        var listeners = app.Services.GetRequiredService<ProxyListeners>();
        ProxyEndPoint = listeners.ProxyEndPoint!;
        AdminEndPoint = listeners.AdminEndPoint!;
        Client = NewClient();
        Admin = new HttpClient { BaseAddress = new Uri($"http://{AdminEndPoint}/"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public IPEndPoint ProxyEndPoint { get; }

    public IPEndPoint AdminEndPoint { get; }

    public HttpClient Client { get; }

    public HttpClient Admin { get; }

    public Uri BaseAddress => new($"http://{ProxyEndPoint}/");

    /// <summary>The host's services, as an embedding application sees them.</summary>
    public IServiceProvider Services => _app.Services;

    internal ProxyRuntime Runtime => _app.Services.GetRequiredService<ProxyRuntime>();

    internal Clusters.ProxyCluster Cluster(string name = "web") => Runtime.Clusters.Single(c => c.Name == name);

    /// <summary>Options with one listener, the admin endpoint, and cluster "web" over <paramref name="endpoints"/> on "/".</summary>
    public static ProxyOptions Options(LoadBalancingAlgorithm algorithm, params string[] endpoints)
    {
        var options = new ProxyOptions();
        options.Listeners.Add(new ListenerOptions { Url = "http://127.0.0.1:0" });
        options.Admin.Url = "http://127.0.0.1:0";
        options.Routes.Add(new ProxyRouteOptions { Path = "/", Cluster = "web" });
        var cluster = new ClusterOptions { Algorithm = algorithm };
        foreach (var endpoint in endpoints)
        {
            cluster.Endpoints.Add(new EndpointOptions { Address = endpoint });
        }

        options.Clusters["web"] = cluster;
        return options;
    }

    /// <summary>As <see cref="Options"/>, for gRPC: an HTTP/2 (h2c) listener, and HTTP/2 to the endpoints.</summary>
    public static ProxyOptions GrpcOptions(LoadBalancingAlgorithm algorithm, params string[] endpoints)
    {
        var options = Options(algorithm, endpoints);
        options.Listeners[0].Protocols = ListenerProtocols.Http2;
        options.Clusters["web"].Protocol = UpstreamProtocol.Http2;
        return options;
    }

    public static async Task<TestProxy> StartAsync(ProxyOptions options, TimeProvider? time = null, Action<IProxyBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        TestTransport.Apply(options);
        var proxy = builder.Services.AddLoadBalancingProxy(options);
        configure?.Invoke(proxy);
        builder.WebHost.UseLoadBalancingProxyListeners(options);
        var app = builder.Build();
        app.UseLoadBalancingProxy();
        await app.StartAsync();
        return new TestProxy(app);
    }

    public HttpClient NewClient(Version? version = null) => new(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false })
    {
        BaseAddress = BaseAddress,
        Timeout = TimeSpan.FromSeconds(60),
        DefaultRequestVersion = version ?? HttpVersion.Version11,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    /// <summary>
    /// Sends raw bytes on a new connection and returns everything the proxy answered until it closed the
    /// connection (bounded). The client never half-closes: Kestrel treats that as the client leaving.
    /// Requests that Kestrel accepts must end with <c>Connection: close</c> for the read to end.
    /// </summary>
    public async Task<string> SendRawAsync(string request, TimeSpan? timeout = null)
    {
        using var socket = new Socket(ProxyEndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(ProxyEndPoint);
        await socket.SendAsync(Encoding.Latin1.GetBytes(request));
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        var received = new StringBuilder();
        var buffer = new byte[8192];
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0)
            {
                received.Append(Encoding.Latin1.GetString(buffer, 0, read));
            }
        }
        catch (SocketException)
        {
            // A reset after the answer still leaves the answer.
        }

        return received.ToString();
    }

    /// <summary>Stops the host gracefully (as on SIGTERM), leaving the test's clients open.</summary>
    public Task StopAsync() => _app.StopAsync();

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        Admin.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Loopback addresses standing in for pod IPs, and ports where nothing listens.</summary>
internal static class Loopback
{
    /// <summary>An address:port that refuses connections (a pod that is gone).</summary>
    public static string DeadEndpoint(string ip = "127.0.0.1")
    {
        using var listener = new TcpListener(IPAddress.Parse(ip), 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return $"{ip}:{port}";
    }
}
