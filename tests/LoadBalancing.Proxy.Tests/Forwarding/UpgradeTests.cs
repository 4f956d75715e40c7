using System.Net.WebSockets;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Forwarding;

public sealed class UpgradeTests
{
    [Fact]
    public async Task WebSocket_EchoesThroughTheProxy()
    {
        await using var backend = await TestBackend.StartAsync(
            "ws",
            "127.0.0.2",
            async context =>
            {
                if (!context.WebSockets.IsWebSocketRequest)
                {
                    context.Response.StatusCode = StatusCodes.Status400BadRequest;
                    return;
                }

                await WebSocketEcho.RunAsync(context);
            },
            app => app.UseWebSockets());
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        await WebSocketEcho.AssertRoundTripsAsync(new Uri($"ws://{proxy.ProxyEndPoint}/chat"), "through", ct);
        Assert.Equal("Upgrade", Assert.Single(backend.Requests).Headers["Connection"]);
    }

    [Fact]
    public async Task UpgradeRefused_IsAnOrdinaryResponse()
    {
        await using var backend = await TestBackend.StartAsync("plain", "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));

        using var client = new ClientWebSocket();
        var error = await Assert.ThrowsAsync<WebSocketException>(() => client.ConnectAsync(new Uri($"ws://{proxy.ProxyEndPoint}/"), TestContext.Current.CancellationToken));

        Assert.Contains("200", error.Message, StringComparison.Ordinal);
    }
}
