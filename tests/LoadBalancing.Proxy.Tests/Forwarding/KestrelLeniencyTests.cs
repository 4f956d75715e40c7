using System.Net;
using System.Net.Sockets;
using System.Text;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Forwarding;

/// <summary>
/// What bare Kestrel (no proxy) accepts, measured: the reason the proxy checks these shapes itself. If Kestrel
/// turns strict on one, its test here fails and the proxy's own check can be reconsidered.
/// </summary>
public sealed class KestrelLeniencyTests
{
    public static TheoryData<string, string, string> Lenient => new()
    {
        { "a plus sign in Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\nConnection: close\r\n\r\nhello", "cl=5 " },
        { "leading zeros in Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\nConnection: close\r\n\r\nhello", "cl=5 " },
        { "a coding before chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "body=hello" },
        { "chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "body=hello" },
        { "chunked on HTTP/1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "body=hello" },
        { "Content-Length with chunked, renamed", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "x-content-length=5 " },
        { "close drops the other nominations", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\nX-Secret: s\r\n\r\n", "connection=close " },
        { "bare LF line ends", "GET / HTTP/1.1\nHost: a\nConnection: close\n\n", "connection=close " },
        // No option or switch of KestrelServerOptions makes it check names: the body below is parsed as a next request.
        { "a control byte in a name", "POST / HTTP/1.1\r\nHost: a\r\nC\u0001ontent-Length: 5\r\nConnection: close\r\n\r\nhello", "cl= connection=close x-content-length= body= x-a=" },
        { "a control byte in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u0001b\r\nConnection: close\r\n\r\n", "x-a=a\u0001b" },
    };

    [Theory]
    [MemberData(nameof(Lenient))]
    public async Task Kestrel_Accepts(string why, string request, string seen)
    {
        await using var backend = await TestBackend.StartAsync("k", "127.0.0.2", async context =>
        {
            var body = await new StreamReader(context.Request.Body).ReadToEndAsync(context.RequestAborted);
            await context.Response.WriteAsync(
                $"cl={context.Request.ContentLength} connection={context.Request.Headers.Connection} x-content-length={context.Request.Headers["X-Content-Length"]} body={body} x-a={context.Request.Headers["X-A"]}");
        });

        var answer = await SendRawAsync(IPEndPoint.Parse(backend.Address), request);

        Assert.True(answer.StartsWith("HTTP/1.1 200", StringComparison.Ordinal), $"{why}: {answer.Split('\r')[0]}");
        Assert.Contains(seen, answer, StringComparison.Ordinal);
    }

    private static async Task<string> SendRawAsync(IPEndPoint endPoint, string request)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(20));
        await socket.ConnectAsync(endPoint, cts.Token);
        await socket.SendAsync(Encoding.Latin1.GetBytes(request), cts.Token);
        var received = new StringBuilder();
        var buffer = new byte[8192];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0)
        {
            received.Append(Encoding.Latin1.GetString(buffer, 0, read));
        }

        return received.ToString();
    }
}
