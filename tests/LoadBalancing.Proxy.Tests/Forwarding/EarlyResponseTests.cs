using System.Net;
using System.Net.Sockets;
using System.Text;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Tests.Forwarding;

/// <summary>
/// An upstream that answers an upload before reading it (a 413, a 401, a redirect): the client gets the answer, the
/// proxy stops sending the body upstream, and the client's connection stays usable — Kestrel reads the rest of the body
/// off it, which it can only do when the proxy left the body reader idle.
/// </summary>
public sealed class EarlyResponseTests
{
    private const string Kestrel = "Microsoft.AspNetCore.Server.Kestrel";

    [Theory(Timeout = 30_000)]
    [InlineData(UpstreamProtocol.Http1)]
    [InlineData(UpstreamProtocol.Http2)]
    public async Task UpstreamAnswersBeforeReadingTheBody_ClientConnectionIsDrainedAndKeptAlive_NothingFailsInKestrel(UpstreamProtocol protocol)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backend = await TestBackend.StartAsync("early", "127.0.0.2", AnswerTooLarge, protocols: Listening(protocol));
        var options = Options(backend, protocol);
        var logs = new CapturedLogs();
        await using var proxy = await TestProxy.StartAsync(options, configure: p => p.Services.AddSingleton<ILoggerProvider>(logs));

        // One connection, raw, so that its reuse is seen: three uploads of 3 MB, each answered before it is read, then a GET.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(proxy.ProxyEndPoint, ct);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var body = new byte[3 * 1024 * 1024];
        for (var i = 0; i < 3; i++)
        {
            var head = Encoding.ASCII.GetBytes($"POST /upload/{i} HTTP/1.1\r\nHost: proxy\r\nContent-Length: {body.Length}\r\n\r\n");
            await stream.WriteAsync(head, ct);
            var sending = stream.WriteAsync(body, ct).AsTask();
            Assert.Equal(413, (await ReadResponseAsync(stream, ct)).Status);
            await sending;
        }

        await stream.WriteAsync("GET /after HTTP/1.1\r\nHost: proxy\r\n\r\n"u8.ToArray(), ct);
        var after = await ReadResponseAsync(stream, ct);
        Assert.Equal(413, after.Status);
        Assert.Equal("too large", after.Body);

        Assert.DoesNotContain(logs.Lines, l => l.Category.StartsWith(Kestrel, StringComparison.Ordinal) && l.Level >= LogLevel.Warning);
    }

    [Theory(Timeout = 30_000)]
    [InlineData(UpstreamProtocol.Http1)]
    [InlineData(UpstreamProtocol.Http2)]
    public async Task UpstreamAnswersWhileTheClientPausesMidBody_TheForwardingEndsWithoutWaitingForTheRest(UpstreamProtocol protocol)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backend = await TestBackend.StartAsync("early", "127.0.0.2", AnswerTooLarge, protocols: Listening(protocol));
        var options = Options(backend, protocol);
        await using var proxy = await TestProxy.StartAsync(options);

        // The proxy's body read waits on the client when the answer is done.
        await using var stream = await SendPartOfABodyAsync(proxy, ct);
        Assert.Equal(413, (await ReadResponseAsync(stream, ct)).Status);

        // The exchange ends the waiting read (CancelPendingRead): the request stops being forwarded while the client
        // still holds the rest of its body.
        Assert.True(SpinWait.SpinUntil(() => proxy.Cluster().Metrics.InFlight == 0, TimeSpan.FromSeconds(10)), "the forwarding still waits for the client's body");
    }

    [Theory(Timeout = 30_000)]
    [InlineData(UpstreamProtocol.Http1)]
    [InlineData(UpstreamProtocol.Http2)]
    public async Task RouteTimeoutWhileTheClientPausesMidBody_AnswersGatewayTimeout_AndTheForwardingEnds(UpstreamProtocol protocol)
    {
        var ct = TestContext.Current.CancellationToken;
        var reading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync("reader", "127.0.0.2", async context =>
        {
            // Reads the body as it comes and answers only at its end, which never comes.
            var buffer = new byte[16 * 1024];
            while (await context.Request.Body.ReadAsync(buffer, context.RequestAborted) > 0)
            {
                reading.TrySetResult();
            }
        }, protocols: Listening(protocol));
        var options = Options(backend, protocol);
        options.Routes[0].Timeouts = new RouteTimeoutOptions { Request = TimeSpan.FromMilliseconds(500) };
        await using var proxy = await TestProxy.StartAsync(options);

        await using var stream = await SendPartOfABodyAsync(proxy, ct);
        await reading.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);

        // The timeout ends the body read that waits on the client (CancelPendingRead), whichever upstream protocol sends it.
        var (status, body) = await ReadResponseAsync(stream, ct);
        Assert.Equal(504, status);
        Assert.Equal("the route's request timeout passed\n", body);
        Assert.True(SpinWait.SpinUntil(() => proxy.Cluster().Metrics.InFlight == 0, TimeSpan.FromSeconds(10)), "the forwarding still waits for the client's body");
    }

    /// <summary>An upstream that answers 413 at once, before reading any of the body.</summary>
    private static readonly RequestDelegate AnswerTooLarge = context =>
    {
        context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
        context.Response.ContentLength = 9;
        return context.Response.WriteAsync("too large", context.RequestAborted);
    };

    private static HttpProtocols Listening(UpstreamProtocol protocol) => protocol == UpstreamProtocol.Http2 ? HttpProtocols.Http2 : HttpProtocols.Http1;

    /// <summary>The proxy's options for one cluster over <paramref name="backend"/>, spoken to in <paramref name="protocol"/>.</summary>
    private static ProxyOptions Options(TestBackend backend, UpstreamProtocol protocol)
    {
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        options.Clusters["web"].Protocol = protocol;
        return options;
    }

    /// <summary>On a new connection, the head of a 3 MiB upload and 64 KiB of its body, then nothing more.</summary>
    private static async Task<NetworkStream> SendPartOfABodyAsync(TestProxy proxy, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(proxy.ProxyEndPoint, ct);
        var stream = new NetworkStream(socket, ownsSocket: true);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /upload HTTP/1.1\r\nHost: proxy\r\nContent-Length: {3 * 1024 * 1024}\r\n\r\n"), ct);
        await stream.WriteAsync(new byte[64 * 1024], ct);
        return stream;
    }

    /// <summary>Reads one response with a Content-Length body off <paramref name="stream"/>.</summary>
    private static async Task<(int Status, string Body)> ReadResponseAsync(NetworkStream stream, CancellationToken ct)
    {
        var received = new List<byte>();
        var one = new byte[1];
        while (received.Count < 4 || !received.TakeLast(4).SequenceEqual("\r\n\r\n"u8.ToArray()))
        {
            Assert.True(await stream.ReadAsync(one, ct) == 1, "the proxy closed the connection: " + Encoding.ASCII.GetString([.. received]));
            received.Add(one[0]);
        }

        var head = Encoding.ASCII.GetString([.. received]);
        var status = int.Parse(head.AsSpan(9, 3), provider: System.Globalization.CultureInfo.InvariantCulture);
        var length = int.Parse(head.Split("\r\n").Single(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var content = new byte[length];
        await stream.ReadExactlyAsync(content, ct);
        return (status, Encoding.ASCII.GetString(content));
    }
}
