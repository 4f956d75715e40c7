using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>
/// A backend's WebSocket handler that accepts, sends every message back as it came and answers a close with one; and
/// the client side that checks a tunnel to it.
/// </summary>
internal static class WebSocketEcho
{
    /// <summary>Connects to <paramref name="uri"/>, checks each message comes back whole (the last one 3,000 bytes), then closes.</summary>
    public static async Task AssertRoundTripsAsync(Uri uri, string firstWords, CancellationToken ct)
    {
        using var client = new ClientWebSocket();
        await client.ConnectAsync(uri, ct);
        var buffer = new byte[4096];
        foreach (var message in new[] { "hello", firstWords, new string('x', 3000) })
        {
            await client.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, true, ct);
            var received = await client.ReceiveAsync(buffer, ct);
            Assert.Equal(message, Encoding.UTF8.GetString(buffer, 0, received.Count));
        }

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", ct);
        Assert.Equal(WebSocketState.Closed, client.State);
    }

    public static async Task RunAsync(HttpContext context)
    {
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var buffer = new byte[4096];
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", context.RequestAborted);
                return;
            }

            await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, context.RequestAborted);
        }
    }
}
