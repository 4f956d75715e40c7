using System.Net;
using System.Text;
using System.Text.Json;
using LoadBalancing.Proxy.AccessLog;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancing.Proxy.Tests.Routing;

/// <summary>
/// The access log's route field and per-route sampling. Each test stops the proxy before reading the log: stopping
/// ends every request and flushes the writer, so the captured text is complete (and nothing is waited for by time).
/// </summary>
public sealed class RouteAccessLogTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EveryLine_NamesItsRoute_ForwardedRedirectedAndAnswered()
    {
        await using var backend = await TestBackend.StartAsync("pod", "127.0.0.2");
        var options = Logged(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        options.Routes.Clear();
        options.Routes.Add(new ProxyRouteOptions { Name = "api", Path = "/api", Cluster = "web" });
        options.Routes.Add(new ProxyRouteOptions { Path = "/old", Redirect = new RedirectOptions { ReplaceFullPath = "/new" } }); // unnamed: route-1
        options.Routes.Add(new ProxyRouteOptions { Name = "health", Path = "/healthz", PathType = PathMatchType.Exact, DirectResponse = new DirectResponseOptions { Body = "ok" } });
        var sink = new TextSink();
        var proxy = await StartAsync(options, sink);

        using (var forwarded = await proxy.Client.GetAsync("/api/users", Ct))
        using (var redirected = await proxy.Client.GetAsync("/old", Ct))
        using (var answered = await proxy.Client.GetAsync("/healthz", Ct))
        using (var unrouted = await proxy.Client.GetAsync("/elsewhere", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, forwarded.StatusCode);
            Assert.Equal(HttpStatusCode.Found, redirected.StatusCode);
            Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, unrouted.StatusCode);
        }

        await proxy.DisposeAsync();

        var lines = sink.Lines().ToDictionary(l => l.GetProperty("path").GetString()!);
        Assert.Equal(4, lines.Count);
        Assert.Equal("api", lines["/api/users"].GetProperty("route").GetString());
        Assert.Equal("web", lines["/api/users"].GetProperty("cluster").GetString());
        Assert.Equal("route-1", lines["/old"].GetProperty("route").GetString());
        Assert.Equal("redirect", lines["/old"].GetProperty("reason").GetString());
        Assert.Equal(302, lines["/old"].GetProperty("status").GetInt32());
        Assert.Equal("health", lines["/healthz"].GetProperty("route").GetString());
        Assert.Equal("direct_response", lines["/healthz"].GetProperty("reason").GetString());
        Assert.Equal(2, lines["/healthz"].GetProperty("bytes_out").GetInt64());
        Assert.False(lines["/elsewhere"].TryGetProperty("route", out _)); // no route matched
        Assert.Equal("no_route", lines["/elsewhere"].GetProperty("reason").GetString());
    }

    [Fact]
    public async Task RouteSampleRateZero_LogsNoneOfItsRequests_WhileAnotherRouteLogsAll()
    {
        await using var backend = await TestBackend.StartAsync("pod", "127.0.0.2");
        var options = Logged(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        options.Routes.Clear();
        options.Routes.Add(new ProxyRouteOptions { Name = "quiet", Path = "/quiet", Cluster = "web", AccessLogSampleRate = 0 });
        options.Routes.Add(new ProxyRouteOptions { Name = "quiet-answer", Path = "/quiet-answer", DirectResponse = new DirectResponseOptions(), AccessLogSampleRate = 0 });
        options.Routes.Add(new ProxyRouteOptions { Name = "loud", Path = "/loud", Cluster = "web" });
        var sink = new TextSink();
        var proxy = await StartAsync(options, sink);

        for (var i = 0; i < 10; i++)
        {
            (await proxy.Client.GetAsync("/quiet/" + i, Ct)).Dispose();
            (await proxy.Client.GetAsync("/quiet-answer/" + i, Ct)).Dispose();
            (await proxy.Client.GetAsync("/loud/" + i, Ct)).Dispose();
        }

        await proxy.DisposeAsync();

        var routes = sink.Lines().Select(l => l.GetProperty("route").GetString()).ToArray();
        Assert.Equal(Enumerable.Repeat("loud", 10), routes);
        Assert.Equal(20, backend.Requests.Count); // the quiet requests were served, only not logged
    }

    [Fact]
    public async Task RouteSampleRateOne_LogsAll_WhenTheLogsOwnRateIsZero()
    {
        await using var backend = await TestBackend.StartAsync("pod", "127.0.0.2");
        var options = Logged(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        options.AccessLog.SampleRate = 0;
        options.Routes.Clear();
        options.Routes.Add(new ProxyRouteOptions { Name = "audited", Path = "/audited", Cluster = "web", AccessLogSampleRate = 1 });
        options.Routes.Add(new ProxyRouteOptions { Name = "rest", Path = "/", Cluster = "web" });
        var sink = new TextSink();
        var proxy = await StartAsync(options, sink);

        for (var i = 0; i < 5; i++)
        {
            (await proxy.Client.GetAsync("/audited", Ct)).Dispose();
            (await proxy.Client.GetAsync("/other", Ct)).Dispose();
        }

        await proxy.DisposeAsync();

        Assert.Equal(Enumerable.Repeat("audited", 5), sink.Lines().Select(l => l.GetProperty("route").GetString()));
    }

    private static ProxyOptions Logged(ProxyOptions options)
    {
        options.AccessLog.Enabled = true;
        return options;
    }

    private static Task<TestProxy> StartAsync(ProxyOptions options, TextSink sink) =>
        TestProxy.StartAsync(options, configure: proxy => proxy.Services.AddSingleton(new AccessLogOutput(() => sink)));

    /// <summary>Keeps everything the access log wrote; read once the proxy has stopped.</summary>
    private sealed class TextSink : Stream
    {
        private readonly StringBuilder _text = new();

        public JsonElement[] Lines()
        {
            string text;
            lock (_text)
            {
                text = _text.ToString();
            }

            return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_text)
            {
                _text.Append(Encoding.UTF8.GetString(buffer, offset, count));
            }
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
