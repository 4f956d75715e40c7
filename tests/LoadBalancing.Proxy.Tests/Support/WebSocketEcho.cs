using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>A backend's WebSocket handler: accepts, sends every message back as it came, and answers a close with one.</summary>
internal static class WebSocketEcho
{
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
