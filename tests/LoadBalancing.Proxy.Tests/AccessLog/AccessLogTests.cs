using System.Net;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using LoadBalancing.Proxy.AccessLog;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancing.Proxy.Tests.AccessLog;

public sealed class AccessLogTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ProxiedRequest_WritesOneJsonLine_WithUpstreamClusterAndTimings()
    {
        await using var backend = await TestBackend.StartAsync("pod-a", "127.0.0.2");
        var sink = new LineSink();
        await using var proxy = await StartAsync(Logged(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address)), sink);
        var before = DateTime.UtcNow;

        var response = await proxy.Client.GetAsync("/hello?x=1&y=a+b", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var line = JsonDocument.Parse(await sink.NextLineAsync());
        var json = line.RootElement;
        Assert.Equal(
            ["time", "client", "method", "host", "path", "protocol", "status", "bytes_in", "bytes_out", "duration_ms", "upstream", "upstream_status", "upstream_ms", "route", "cluster", "attempts"],
            json.EnumerateObject().Select(p => p.Name));
        var time = json.GetProperty("time").GetDateTime();
        Assert.Equal(DateTimeKind.Utc, time.Kind);
        Assert.InRange(time, before.AddSeconds(-1), DateTime.UtcNow.AddSeconds(1));
        Assert.EndsWith("Z", json.GetProperty("time").GetString(), StringComparison.Ordinal);
        Assert.Equal("127.0.0.1", json.GetProperty("client").GetString());
        Assert.Equal("GET", json.GetProperty("method").GetString());
        Assert.Equal(proxy.ProxyEndPoint.ToString(), json.GetProperty("host").GetString());
        Assert.Equal("/hello?x=1&y=a+b", json.GetProperty("path").GetString());
        Assert.Equal("HTTP/1.1", json.GetProperty("protocol").GetString());
        Assert.Equal(200, json.GetProperty("status").GetInt32());
        Assert.Equal(0, json.GetProperty("bytes_in").GetInt64());
        Assert.Equal("pod-a".Length, json.GetProperty("bytes_out").GetInt64());
        Assert.Equal(backend.Address, json.GetProperty("upstream").GetString());
        Assert.Equal(200, json.GetProperty("upstream_status").GetInt32());
        Assert.InRange(json.GetProperty("upstream_ms").GetDouble(), 0, json.GetProperty("duration_ms").GetDouble());
        Assert.Equal("route-0", json.GetProperty("route").GetString());
        Assert.Equal("web", json.GetProperty("cluster").GetString());
        Assert.Equal(1, json.GetProperty("attempts").GetInt32());
    }

    [Theory(Timeout = 30_000)]
    [InlineData("LoadBalancing.Proxy")]
    [InlineData("Microsoft.AspNetCore")]
    public async Task ATracedRequest_IsLoggedWithItsTraceId_WhoeverTracesIt(string source)
    {
        await using var backend = await TestBackend.StartAsync("pod-a", "127.0.0.71");
        var options = Logged(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        options.AccessLog.Template = "{status} {trace_id}";
        options.AccessLog.Format = AccessLogFormat.Text;
        var sink = new LineSink();
        await using var proxy = await StartAsync(options, sink);
        var (traced, untraced) = (ClientContext.New(), ClientContext.New());
        using var capture = new TraceCapture([traced.TraceId], source);

        (await proxy.Client.SendAsync(traced.Request("/"), TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        Assert.Equal($"200 {traced.TraceId}", await sink.NextLineAsync());
        (await proxy.Client.SendAsync(untraced.Request("/"), TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        Assert.Equal("200 -", await sink.NextLineAsync());
    }

    [Fact]
    public async Task RequestBody_IsCountedAsBytesIn()
    {
        await using var backend = await TestBackend.StartAsync("pod-a", "127.0.0.2");
        var sink = new LineSink();
        await using var proxy = await StartAsync(Logged(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address)), sink);

        await proxy.Client.PostAsync("/upload", new ByteArrayContent(new byte[1000]), TestContext.Current.CancellationToken);

        using var line = JsonDocument.Parse(await sink.NextLineAsync());
        Assert.Equal(1000, line.RootElement.GetProperty("bytes_in").GetInt64());
        Assert.Equal("POST", line.RootElement.GetProperty("method").GetString());
    }

    [Fact]
    public async Task NoRoute_IsLoggedAs404_WithReasonNoRoute()
    {
        var options = Logged(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, "127.0.0.2:9"));
        options.Routes[0].Path = "/api";
        var sink = new LineSink();
        await using var proxy = await StartAsync(options, sink);

        var response = await proxy.Client.GetAsync("/other", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        using var line = JsonDocument.Parse(await sink.NextLineAsync());
        var json = line.RootElement;
        Assert.Equal(404, json.GetProperty("status").GetInt32());
        Assert.Equal("no_route", json.GetProperty("reason").GetString());
        Assert.Equal("/other", json.GetProperty("path").GetString());
        Assert.Equal("no route for this host and path\n".Length, json.GetProperty("bytes_out").GetInt64());
        Assert.False(json.TryGetProperty("cluster", out _));
        Assert.False(json.TryGetProperty("upstream", out _));
    }

    [Fact]
    public async Task DeadUpstream_IsLoggedWithReasonConnect_AndTheAddressTried()
    {
        var dead = Loopback.DeadEndpoint("127.0.0.2");
        var options = Logged(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, dead));
        options.Clusters["web"].MaxAttempts = 1;
        var sink = new LineSink();
        await using var proxy = await StartAsync(options, sink);

        var response = await proxy.Client.GetAsync("/", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        using var line = JsonDocument.Parse(await sink.NextLineAsync());
        var json = line.RootElement;
        Assert.Equal(503, json.GetProperty("status").GetInt32());
        Assert.Equal("connect", json.GetProperty("reason").GetString());
        Assert.Equal(dead, json.GetProperty("upstream").GetString());
        Assert.Equal(1, json.GetProperty("attempts").GetInt32());
        Assert.Equal("web", json.GetProperty("cluster").GetString());
        Assert.False(json.TryGetProperty("upstream_status", out _));
        Assert.True(json.GetProperty("bytes_out").GetInt64() > 0);
    }

    [Fact]
    public async Task RejectedRequest_IsLoggedAs400_WithTheRejectionReason()
    {
        var sink = new LineSink();
        await using var proxy = await StartAsync(Logged(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, "127.0.0.2:9")), sink);

        var answer = await proxy.SendRawAsync("POST /form HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 400", answer, StringComparison.Ordinal);
        using var line = JsonDocument.Parse(await sink.NextLineAsync());
        Assert.Equal(400, line.RootElement.GetProperty("status").GetInt32());
        Assert.Equal("rejected_http10_transfer_encoding", line.RootElement.GetProperty("reason").GetString());
        Assert.Equal("a", line.RootElement.GetProperty("host").GetString());
    }

    [Fact]
    public async Task TextFormat_FollowsTheTemplate_WithDashForMissingValues()
    {
        var options = Logged(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, "127.0.0.2:9"));
        options.Routes[0].Path = "/api";
        options.AccessLog.Format = AccessLogFormat.Text;
        options.AccessLog.Template = "{client} \"{method} {path} {protocol}\" {status} {upstream} {reason}";
        var sink = new LineSink();
        await using var proxy = await StartAsync(options, sink);

        await proxy.Client.GetAsync("/nope?q=1", TestContext.Current.CancellationToken);

        Assert.Equal("127.0.0.1 \"GET /nope?q=1 HTTP/1.1\" 404 - no_route", await sink.NextLineAsync());
    }

    [Fact]
    public async Task SampleRateZero_LogsNothing()
    {
        var options = Logged(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, "127.0.0.2:9"));
        options.Routes[0].Path = "/api";
        options.AccessLog.SampleRate = 0;
        var sink = new LineSink();
        var proxy = await StartAsync(options, sink);

        for (var i = 0; i < 5; i++)
        {
            await proxy.Client.GetAsync("/other", TestContext.Current.CancellationToken);
        }

        // Stopping the host ends every request and flushes the writer: whatever was queued is in the sink now.
        await proxy.DisposeAsync();
        Assert.Equal(0, sink.Count);
    }

    [Fact]
    public async Task FullQueue_DropsLines_CountsThem_AndNeverDelaysRequests()
    {
        var options = Logged(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, "127.0.0.2:9"));
        options.Routes[0].Path = "/api";
        var sink = new LineSink { Blocked = true };
        await using var proxy = await StartAsync(options, sink, capacity: 2);
        var ct = TestContext.Current.CancellationToken;

        // The first line reaches the writer, which then hangs in the sink; two more fit in the queue.
        await proxy.Client.GetAsync("/other", ct);
        await sink.WriteStarted.Task.WaitAsync(Bound, ct);
        for (var i = 0; i < 10; i++)
        {
            var response = await proxy.Client.GetAsync("/other", ct).WaitAsync(Bound, ct);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        var metrics = await proxy.Admin.GetStringAsync("metrics", ct);
        Assert.Contains("lb_proxy_access_log_dropped_total 8\n", metrics, StringComparison.Ordinal);

        sink.Release();
        for (var i = 0; i < 3; i++)
        {
            Assert.Contains("no_route", await sink.NextLineAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task FilePath_AppendsLines_ToTheFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"access-{Guid.NewGuid():N}.log");
        try
        {
            await File.WriteAllTextAsync(path, "existing\n", TestContext.Current.CancellationToken);
            var options = Logged(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, "127.0.0.2:9"));
            options.Routes[0].Path = "/api";
            options.AccessLog.Path = path;
            var proxy = await TestProxy.StartAsync(options);
            await proxy.Client.GetAsync("/a", TestContext.Current.CancellationToken);
            await proxy.Client.GetAsync("/b", TestContext.Current.CancellationToken);
            await proxy.DisposeAsync();

            var lines = await File.ReadAllLinesAsync(path, TestContext.Current.CancellationToken);
            Assert.Equal(3, lines.Length);
            Assert.Equal("existing", lines[0]);
            Assert.Equal("/a", JsonDocument.Parse(lines[1]).RootElement.GetProperty("path").GetString());
            Assert.Equal("/b", JsonDocument.Parse(lines[2]).RootElement.GetProperty("path").GetString());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Configuration_NamesTheKeyOfEveryProblem()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Proxy:Listeners:0:Url"] = "http://127.0.0.1:0",
            ["Proxy:Routes:0:Cluster"] = "web",
            ["Proxy:Clusters:web:Endpoints:0:Address"] = "127.0.0.2:9",
            ["Proxy:AccessLog:Enabled"] = "true",
            ["Proxy:AccessLog:Format"] = "txt",
            ["Proxy:AccessLog:SampleRate"] = "1.5",
            ["Proxy:AccessLog:Sample"] = "1",
        }).Build();

        ProxyConfiguration.TryLoad(configuration.GetSection("Proxy"), out _, out var errors);

        Assert.Contains(errors, e => e.StartsWith("Proxy:AccessLog:Sample: unknown key (set to '1')", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Proxy:AccessLog:Format: 'txt' is not an access log format; did you mean 'Text'?", StringComparison.Ordinal));
        Assert.Contains("Proxy:AccessLog:SampleRate must be between 0 and 1; got 1.5.", errors);
    }

    [Fact]
    public void Template_WithAnUnknownField_IsRefused_WithTheClosestName()
    {
        var options = Logged(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, "127.0.0.2:9"));
        options.AccessLog.Format = AccessLogFormat.Text;
        options.AccessLog.Template = "{time} {stauts}";

        var error = Assert.Throws<ProxyConfigurationException>(() => ProxyConfiguration.Validate(options));

        Assert.Contains("Proxy:AccessLog:Template: '{stauts}' is not a field; did you mean '{status}'?", error.Message, StringComparison.Ordinal);
    }

    private static ProxyOptions Logged(ProxyOptions options)
    {
        options.AccessLog.Enabled = true;
        return options;
    }

    private static Task<TestProxy> StartAsync(ProxyOptions options, LineSink sink, int capacity = AccessLogOptions.DefaultCapacity) =>
        TestProxy.StartAsync(options, configure: proxy => proxy.Services.AddSingleton(new AccessLogOutput(() => sink, capacity)));

    /// <summary>Collects the writer's output line by line; can hold the writer inside Write to fill the queue.</summary>
    private sealed class LineSink : Stream
    {
        private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
        private readonly SemaphoreSlim _gate = new(0);
        private readonly StringBuilder _partial = new();
        private int _count;

        public bool Blocked { get; init; }

        public TaskCompletionSource WriteStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Count => Volatile.Read(ref _count);

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public void Release() => _gate.Release(int.MaxValue / 2);

        public async Task<string> NextLineAsync()
        {
            using var timeout = new CancellationTokenSource(Bound);
            return await _lines.Reader.ReadAsync(timeout.Token);
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            WriteStarted.TrySetResult();
            if (Blocked)
            {
                Assert.True(_gate.Wait(Bound), "the test never released the sink");
            }

            _partial.Append(Encoding.UTF8.GetString(buffer, offset, count));
            var text = _partial.ToString();
            var end = text.LastIndexOf('\n');
            if (end < 0)
            {
                return;
            }

            foreach (var line in text[..end].Split('\n'))
            {
                Interlocked.Increment(ref _count);
                _lines.Writer.TryWrite(line);
            }

            _partial.Clear().Append(text, end + 1, text.Length - end - 1);
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
