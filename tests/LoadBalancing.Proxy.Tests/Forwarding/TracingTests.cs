using System.Collections.Concurrent;
using System.Diagnostics;
using LoadBalancing.Proxy.Tests.Support;

namespace LoadBalancing.Proxy.Tests.Forwarding;

/// <summary>
/// Distributed tracing through the proxy: each attempt is a client span on the <c>LoadBalancing.Proxy</c> source whose
/// context the upstream gets; without a listener the upstream continues the host's server span, or the client's trace.
/// Each test samples only its own trace ids, so the proxies of tests running beside it are not traced.
/// </summary>
public sealed class TracingTests
{
    private const string ProxySource = "LoadBalancing.Proxy";
    private const string HostSource = "Microsoft.AspNetCore";

    [Theory(Timeout = 30_000)]
    [InlineData(UpstreamProtocol.Http1, "1.1")]
    [InlineData(UpstreamProtocol.Http2, "2")]
    public async Task AnAttempt_IsAClientSpan_WhoseContextTheUpstreamGets_InPlaceOfTheClients(UpstreamProtocol protocol, string version)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backend = await TestBackend.StartAsync("traced", "127.0.0.63", protocols: protocol == UpstreamProtocol.Http2
            ? Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2
            : Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1);
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        options.Clusters["web"].Protocol = protocol;
        await using var proxy = await TestProxy.StartAsync(options);
        var client = ClientContext.New();
        using var capture = new TraceCapture([client.TraceId], ProxySource);

        using var response = await proxy.Client.SendAsync(client.Request("/orders?id=7"), ct);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        var span = Assert.Single(await capture.SpansAsync(1));

        Assert.Equal((ActivityKind.Client, "GET", client.TraceId, client.SpanId), (span.Kind, span.DisplayName, span.TraceId, span.ParentSpanId));
        Assert.Equal(ActivityStatusCode.Unset, span.Status);
        Assert.Equal("GET", span.GetTagItem("http.request.method"));
        Assert.Equal("127.0.0.63", span.GetTagItem("server.address"));
        Assert.Equal(int.Parse(backend.Address.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture), span.GetTagItem("server.port"));
        Assert.Equal($"http://{backend.Address}/orders?id=7", span.GetTagItem("url.full"));
        Assert.Equal(version, span.GetTagItem("network.protocol.version"));
        Assert.Equal("web", span.GetTagItem("lb.cluster"));
        Assert.Equal(200, span.GetTagItem("http.response.status_code"));
        Assert.Null(span.GetTagItem("http.request.resend_count"));

        var seen = Assert.Single(backend.Requests).Headers;
        Assert.Equal(span.Id, seen["traceparent"]);
        Assert.Equal("vendor=1", seen["tracestate"]);
    }

    [Fact(Timeout = 30_000)]
    public async Task ARetry_IsASpanOfItsOwn_AndTheFailedAttemptSaysWhatFailed()
    {
        var ct = TestContext.Current.CancellationToken;
        var (backend, proxy) = await TwoAttemptsAsync("127.0.0.64", "127.0.0.65");
        await using var fallback = backend;
        await using var proxied = proxy;
        var client = ClientContext.New();
        using var capture = new TraceCapture([client.TraceId], ProxySource);

        using var response = await proxy.Client.SendAsync(client.Request("/"), ct);

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        var (failed, answered) = await capture.SpansAsync(2) is [var first, var second] ? (first, second) : default;
        Assert.Equal((client.SpanId, client.SpanId), (failed.ParentSpanId, answered.ParentSpanId));
        Assert.Equal((ActivityStatusCode.Error, "connect", "127.0.0.65"), (failed.Status, failed.GetTagItem("error.type"), failed.GetTagItem("server.address")));
        Assert.Null(failed.GetTagItem("http.response.status_code"));
        Assert.Equal((ActivityStatusCode.Unset, 200, 1, "127.0.0.64"), (answered.Status, answered.GetTagItem("http.response.status_code"), answered.GetTagItem("http.request.resend_count"), answered.GetTagItem("server.address")));
        Assert.Equal(answered.Id, Assert.Single(backend.Requests).Headers["traceparent"]);
    }

    [Fact(Timeout = 30_000)]
    public async Task WhenTheHostTracesToo_EveryAttemptIsAChildOfTheServerSpan()
    {
        var ct = TestContext.Current.CancellationToken;
        var (backend, proxy) = await TwoAttemptsAsync("127.0.0.69", "127.0.0.70");
        await using var fallback = backend;
        await using var proxied = proxy;
        var client = ClientContext.New();
        using var capture = new TraceCapture([client.TraceId], ProxySource, HostSource);

        using var response = await proxy.Client.SendAsync(client.Request("/"), ct);

        // Two attempts, the fallback's server span (an ASP.NET Core host too) and the proxy's server span, which ends last.
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        var spans = await capture.SpansAsync(4);
        var server = Assert.Single(spans, s => s.Kind == ActivityKind.Server && s.ParentSpanId == client.SpanId);
        var attempts = spans.Where(s => s.Kind == ActivityKind.Client).ToArray();
        Assert.Equal(2, attempts.Length);
        Assert.All(attempts, a => Assert.Equal(server.SpanId, a.ParentSpanId));
        Assert.Equal(attempts[1].Id, Assert.Single(backend.Requests).Headers["traceparent"]);
    }

    [Fact(Timeout = 30_000)]
    public async Task AGrpcCall_CarriesItsGrpcStatus()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backend = await GrpcBackend.StartAsync("grpc", "127.0.0.72");
        var options = TestProxy.GrpcOptions(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        await using var proxy = await TestProxy.StartAsync(options);
        using var channel = global::Grpc.Net.Client.GrpcChannel.ForAddress(proxy.BaseAddress);
        var invoker = channel.CreateCallInvoker();
        var (ok, failing) = (ClientContext.New(), ClientContext.New());
        using var capture = new TraceCapture([ok.TraceId, failing.TraceId], ProxySource);

        Assert.Equal("grpc:hi", await invoker.AsyncUnaryCall(GrpcBackend.Unary, null, Traced(ok), "hi"));
        var failed = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(async () => await invoker.AsyncUnaryCall(GrpcBackend.Unary, null, Traced(failing), "fail"));
        Assert.Equal(global::Grpc.Core.StatusCode.Unavailable, failed.StatusCode);

        var spans = await capture.SpansAsync(2);
        Assert.Equal((200, 0), Tags(Assert.Single(spans, s => s.TraceId == ok.TraceId)));
        Assert.Equal((200, 14), Tags(Assert.Single(spans, s => s.TraceId == failing.TraceId)));

        global::Grpc.Core.CallOptions Traced(ClientContext client) =>
            new(new global::Grpc.Core.Metadata { { "traceparent", client.TraceParent } }, cancellationToken: ct);

        static (object?, object?) Tags(Activity span) => (span.GetTagItem("http.response.status_code"), span.GetTagItem("rpc.grpc.status_code"));
    }

    [Fact(Timeout = 30_000)]
    public async Task AnUpstreamError_MarksTheSpan_WithTheStatusAsItsErrorType()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backend = await TestBackend.StartAsync("failing", "127.0.0.66", context =>
        {
            context.Response.StatusCode = 500;
            return Task.CompletedTask;
        });
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        var client = ClientContext.New();
        using var capture = new TraceCapture([client.TraceId], ProxySource);

        using var response = await proxy.Client.SendAsync(client.Request("/"), ct);

        Assert.Equal(System.Net.HttpStatusCode.InternalServerError, response.StatusCode);
        var span = Assert.Single(await capture.SpansAsync(1));
        Assert.Equal((ActivityStatusCode.Error, "500", 500), (span.Status, span.GetTagItem("error.type"), span.GetTagItem("http.response.status_code")));
    }

    [Fact(Timeout = 30_000)]
    public async Task WhenOnlyTheHostTraces_TheUpstreamContinuesItsServerSpan()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backend = await TestBackend.StartAsync("traced", "127.0.0.67");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        var client = ClientContext.New();
        using var capture = new TraceCapture([client.TraceId], HostSource);

        using var response = await proxy.Client.SendAsync(client.Request("/"), ct);

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        // The backend is an ASP.NET Core host too: its server span is the other one of the trace.
        var spans = await capture.SpansAsync(2);
        var proxySpan = Assert.Single(spans, s => s.ParentSpanId == client.SpanId);
        var backendSpan = Assert.Single(spans, s => s != proxySpan);
        Assert.Equal((ActivityKind.Server, ActivityKind.Server, proxySpan.SpanId), (proxySpan.Kind, backendSpan.Kind, backendSpan.ParentSpanId));
        Assert.Equal(proxySpan.Id, Assert.Single(backend.Requests).Headers["traceparent"]);
    }

    [Fact(Timeout = 30_000)]
    public async Task WhenNothingTraces_TheClientsTraceFieldsPassThroughAsSent()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backend = await TestBackend.StartAsync("untraced", "127.0.0.68");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        var client = ClientContext.New();

        using var response = await proxy.Client.SendAsync(client.Request("/"), ct);

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        var seen = Assert.Single(backend.Requests).Headers;
        Assert.Equal((client.TraceParent, "vendor=1"), (seen["traceparent"], seen["tracestate"]));
    }

    /// <summary>A proxy whose one endpoint refuses connections and whose fallback answers: each request takes two attempts.</summary>
    private static async Task<(TestBackend Fallback, TestProxy Proxy)> TwoAttemptsAsync(string fallbackIp, string deadIp)
    {
        var fallback = await TestBackend.StartAsync("fallback", fallbackIp);
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, Loopback.DeadEndpoint(deadIp));
        options.Clusters["web"].Fallback = fallback.Address;
        return (fallback, await TestProxy.StartAsync(options));
    }
}
