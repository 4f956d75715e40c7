using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Tests.Transport;

/// <summary>The proxy on the event-loop transport (Proxy:Transport = EventLoop), over real loopback sockets.</summary>
public sealed class EventLoopTransportTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The proxy on the event-loop transport, noting each request's connection and the thread it ran on.</summary>
    private sealed class LoopProxy : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private LoopProxy(WebApplication app, IPEndPoint endPoint)
        {
            _app = app;
            EndPoint = endPoint;
            Client = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = new Uri($"http://{endPoint}/"), Timeout = TimeSpan.FromSeconds(30) };
        }

        public IPEndPoint EndPoint { get; }

        public HttpClient Client { get; }

        /// <summary>Each request's connection, the thread it arrived on and the thread it finished on (after the upstream answered).</summary>
        public ConcurrentQueue<(string Connection, string? Thread, string? ThreadAfter)> Seen { get; } = new();

        public static async Task<LoopProxy> StartAsync(params string[] endpoints)
        {
            var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, endpoints);
            options.Transport = ProxyTransport.EventLoop;
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Services.AddLoadBalancingProxy(options);
            builder.WebHost.UseLoadBalancingProxyListeners(options);
            var app = builder.Build();
            LoopProxy? self = null;
            app.Use(async (context, next) =>
            {
                var arrived = Thread.CurrentThread.Name;
                await next(context);
                self!.Seen.Enqueue((context.Connection.Id, arrived, Thread.CurrentThread.Name));
            });
            app.UseLoadBalancingProxy();
            await app.StartAsync(Ct);
            self = new LoopProxy(app, app.Services.GetRequiredService<ProxyListeners>().ProxyEndPoint!);
            return self;
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await _app.StopAsync(CancellationToken.None);
            await _app.DisposeAsync();
        }
    }

    private static async Task Echo(HttpContext context)
    {
        context.Response.Headers["X-Sha256"] = Convert.ToHexString(await SHA256.HashDataAsync(context.Request.Body, context.RequestAborted));
    }

    [Fact(Timeout = 30_000)]
    public async Task Get_KeepsTheConnectionAlive_AndRunsOnOneLoopThread_UpstreamIncluded()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backend = await TestBackend.StartAsync("one", "127.0.0.2");
        await using var proxy = await LoopProxy.StartAsync(backend.Address);

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal("one", await proxy.Client.GetStringAsync($"/get/{i}", ct));
        }

        var seen = proxy.Seen.ToArray();
        Assert.Equal(10, seen.Length);
        Assert.Single(seen.Select(s => s.Connection).Distinct());

        // Requests run where the loop received them, the first of the connection included (Kestrel starts a connection
        // on the thread pool; its first read completes on the loop), and the upstream connection lives on the same
        // loop, so the upstream's answer comes back to that thread too: one loop thread throughout, one upstream
        // connection.
        var threads = string.Join(", ", seen.Select(s => s.Thread + " -> " + s.ThreadAfter));
        Assert.True(seen.All(s => s.Thread == s.ThreadAfter && s.Thread?.StartsWith("epoll loop", StringComparison.Ordinal) == true), "threads: " + threads);
        Assert.Single(seen.Select(s => s.Thread).Distinct());
        Assert.Single(backend.ConnectionIds);
    }

    [Theory(Timeout = 60_000)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Post_LargeBody_ArrivesWhole_WithContentLengthOrChunked(bool chunked)
    {
        var ct = TestContext.Current.CancellationToken;
        // 3 MiB: past the 1 MiB the transport lets pile up unread, so receiving pauses and resumes.
        var body = new byte[3 * 1024 * 1024];
        new Random(7).NextBytes(body);
        await using var backend = await TestBackend.StartAsync("echo", "127.0.0.2", Echo);
        await using var proxy = await LoopProxy.StartAsync(backend.Address);

        using var request = new HttpRequestMessage(HttpMethod.Post, "/upload") { Content = new ByteArrayContent(body) };
        request.Headers.TransferEncodingChunked = chunked;
        using var response = await proxy.Client.SendAsync(request, ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(body)), response.Headers.GetValues("X-Sha256").Single());
        Assert.Equal(chunked ? "chunked" : body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture),
            chunked ? Assert.Single(backend.Requests).Headers["Transfer-Encoding"] : Assert.Single(backend.Requests).Headers["Content-Length"]);
    }

    [Fact(Timeout = 60_000)]
    public async Task LargeResponse_ArrivesWhole_ToASlowReader()
    {
        var ct = TestContext.Current.CancellationToken;
        // 4 MiB, read in small pieces: the socket's buffer fills and sending waits for the loop's writable edge.
        var body = new byte[4 * 1024 * 1024];
        new Random(8).NextBytes(body);
        await using var backend = await TestBackend.StartAsync("big", "127.0.0.2", context => context.Response.Body.WriteAsync(body, context.RequestAborted).AsTask());
        await using var proxy = await LoopProxy.StartAsync(backend.Address);

        using var response = await proxy.Client.GetAsync("/big", HttpCompletionOption.ResponseHeadersRead, ct);
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        using var received = new MemoryStream();
        var buffer = new byte[1024];
        int read;
        while ((read = await stream.ReadAsync(buffer, ct)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        Assert.Equal(SHA256.HashData(body), SHA256.HashData(received.ToArray()));
    }

    [Fact(Timeout = 30_000)]
    public async Task ClientDisconnectingMidResponse_AbortsTheUpstreamRequest_AndTheProxyGoesOn()
    {
        var ct = TestContext.Current.CancellationToken;
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync("stream", "127.0.0.2", async context =>
        {
            if (context.Request.Path == "/stream")
            {
                using var registration = context.RequestAborted.Register(() => aborted.TrySetResult());
                await context.Response.WriteAsync("first;", context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                await aborted.Task;
                return;
            }

            await context.Response.WriteAsync("after", context.RequestAborted);
        });
        await using var proxy = await LoopProxy.StartAsync(backend.Address);

        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(proxy.EndPoint, ct);
            await socket.SendAsync(Encoding.ASCII.GetBytes("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"), ct);
            var received = new StringBuilder();
            var buffer = new byte[4096];
            while (!received.ToString().Contains("first;", StringComparison.Ordinal))
            {
                var read = await socket.ReceiveAsync(buffer, ct);
                Assert.NotEqual(0, read);
                received.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }

            // A reset, as a client that dies mid-response leaves it.
            socket.LingerState = new LingerOption(true, 0);
        }

        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(20), ct);
        Assert.Equal("after", await proxy.Client.GetStringAsync("/after", ct));
    }

    [Fact(Timeout = 30_000)]
    public async Task WebSocket_EchoesThroughTheTunnel()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backend = await TestBackend.StartAsync(
            "ws",
            "127.0.0.2",
            WebSocketEcho.RunAsync,
            app => app.UseWebSockets());
        await using var proxy = await LoopProxy.StartAsync(backend.Address);

        await WebSocketEcho.AssertRoundTripsAsync(new Uri($"ws://{proxy.EndPoint}/chat"), "through", ct);
    }

    [Fact(Timeout = 30_000)]
    public async Task ManyConcurrentConnections_AreAllAnswered()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backend = await TestBackend.StartAsync("one", "127.0.0.2");
        await using var proxy = await LoopProxy.StartAsync(backend.Address);

        var answers = await Task.WhenAll(Enumerable.Range(0, 64).Select(async i =>
        {
            using var client = new HttpClient { BaseAddress = proxy.Client.BaseAddress, Timeout = TimeSpan.FromSeconds(20) };
            return await client.GetStringAsync($"/c/{i}", ct);
        }));

        Assert.All(answers, a => Assert.Equal("one", a));
        Assert.Equal(64, proxy.Seen.Select(s => s.Connection).Distinct().Count());
    }
}
