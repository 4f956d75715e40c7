using System.Net;
using System.Text.Json;
using LoadBalancing.Proxy.Tests.Support;
using ProxyHost.Tests.Support;

namespace ProxyHost.Tests;

/// <summary>
/// The host's transport, seen from outside: on Linux a configuration that names none listens on the event loops (their
/// threads exist and serve), a reload keeps that without asking for a restart, and <c>Sockets</c> in the file wins.
/// </summary>
public sealed class HostTransportTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task OnLinux_NoTransportConfigured_ListensOnTheEventLoops_AndAReloadNeedsNoRestart()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The event-loop transport is the host's default on Linux only.");
        await using var backend = await TestBackend.StartAsync("web");
        await using var host = await ChildProxyHost.StartAsync(await ConfigAsync(backend.Address, transport: null));
        using var client = new HttpClient { BaseAddress = host.Proxy, Timeout = Bound };
        using var admin = new HttpClient { BaseAddress = host.Admin, Timeout = Bound };

        Assert.Equal("web", await client.GetStringAsync("/", TestContext.Current.CancellationToken));
        Assert.Equal("EventLoop", await ConfiguredTransportAsync(admin));
        Assert.Equal(Environment.ProcessorCount, host.ThreadsNamed("epoll loop "));

        using var reload = await admin.PostAsync("config/reload", null, TestContext.Current.CancellationToken);
        using var body = JsonDocument.Parse(await reload.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(HttpStatusCode.OK, reload.StatusCode);
        Assert.Empty(body.RootElement.GetProperty("restartNeeded").EnumerateArray());
        Assert.Equal("web", await client.GetStringAsync("/", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task SocketsInTheFile_IsKept_NoLoopRuns()
    {
        await using var backend = await TestBackend.StartAsync("web");
        await using var host = await ChildProxyHost.StartAsync(await ConfigAsync(backend.Address, transport: "Sockets"));
        using var client = new HttpClient { BaseAddress = host.Proxy, Timeout = Bound };
        using var admin = new HttpClient { BaseAddress = host.Admin, Timeout = Bound };

        Assert.Equal("web", await client.GetStringAsync("/", TestContext.Current.CancellationToken));
        Assert.Equal("Sockets", await ConfiguredTransportAsync(admin));
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(0, host.ThreadsNamed("epoll loop "));
        }
    }

    private static async Task<string?> ConfiguredTransportAsync(HttpClient admin)
    {
        using var config = JsonDocument.Parse(await admin.GetStringAsync("config", TestContext.Current.CancellationToken));
        return config.RootElement.GetProperty("configuration").GetProperty("Transport").GetString();
    }

    private static async Task<string> ConfigAsync(string backend, string? transport)
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("proxyhost-transport-").FullName, "proxy.json");
        await File.WriteAllTextAsync(path, Json(backend, transport), TestContext.Current.CancellationToken);
        return path;
    }

    private static string Json(string backend, string? transport) => $$"""
        { "DemoBackends": { "Count": 0 }, "Proxy": {{{(transport is null ? "" : $" \"Transport\": \"{transport}\",")}}
            "Listeners": [ { "Url": "http://127.0.0.1:0" } ], "Admin": { "Url": "http://127.0.0.1:0" },
            "Routes": [ { "Path": "/", "Cluster": "web" } ],
            "Clusters": { "web": { "Endpoints": [ { "Address": "{{backend}}" } ] } } } }
        """;
}
