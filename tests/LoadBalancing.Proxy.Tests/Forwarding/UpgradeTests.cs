using System.Net.WebSockets;
using System.Text;
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

        using var client = new ClientWebSocket();
        await client.ConnectAsync(new Uri($"ws://{proxy.ProxyEndPoint}/chat"), ct);
        var buffer = new byte[4096];
        foreach (var message in new[] { "hello", "through", new string('x', 3000) })
        {
            await client.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, true, ct);
            var received = await client.ReceiveAsync(buffer, ct);
            Assert.Equal(message, Encoding.UTF8.GetString(buffer, 0, received.Count));
        }

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", ct);
        Assert.Equal(WebSocketState.Closed, client.State);
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
