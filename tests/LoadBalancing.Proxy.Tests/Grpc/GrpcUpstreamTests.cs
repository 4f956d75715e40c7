using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Http;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Proxy.Tests.Grpc;

/// <summary>gRPC through the proxy to real grpc-dotnet servers on 127.0.0.x, over h2c both ways.</summary>
public sealed class GrpcUpstreamTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task UnaryCalls_OnOneClientConnection_AreBalancedCallByCall()
    {
        await using var a = await GrpcBackend.StartAsync("a", "127.0.0.21");
        await using var b = await GrpcBackend.StartAsync("b", "127.0.0.22");
        await using var c = await GrpcBackend.StartAsync("c", "127.0.0.23");
        await using var proxy = await StartProxyAsync(LoadBalancingAlgorithm.RoundRobin, a.Address, b.Address, c.Address);
        using var channel = Channel(proxy);
        var invoker = channel.CreateCallInvoker();

        var answers = new List<string>();
        for (var i = 0; i < 30; i++)
        {
            answers.Add(await invoker.AsyncUnaryCall(GrpcBackend.Unary, null, new CallOptions(cancellationToken: Ct), $"m{i}"));
        }

        // One client connection (a channel keeps one while its streams fit), thirty calls, about ten per pod (the
        // round-robin cursor is striped per thread, so not exactly ten).
        Assert.All(answers, answer => Assert.Matches("^[abc]:m[0-9]+$", answer));
        Assert.All(new[] { a, b, c }, backend => Assert.InRange(backend.Calls.Count, 5, 15));
    }

    [Fact]
    public async Task ServerStreamingAndBidirectionalCalls_StreamMessageByMessage()
    {
        await using var a = await GrpcBackend.StartAsync("a", "127.0.0.24");
        await using var proxy = await StartProxyAsync(LoadBalancingAlgorithm.RoundRobin, a.Address);
        using var channel = Channel(proxy);
        var invoker = channel.CreateCallInvoker();

        using var count = invoker.AsyncServerStreamingCall(GrpcBackend.Count, null, new CallOptions(cancellationToken: Ct), "5");
        var streamed = await count.ResponseStream.ReadAllAsync(Ct).ToListAsync(Ct);
        Assert.Equal(["a:1", "a:2", "a:3", "a:4", "a:5"], streamed);
        Assert.Equal(StatusCode.OK, count.GetStatus().StatusCode);

        // Each reply is read before the next message is sent: only a full-duplex path gets past the first.
        using var chat = invoker.AsyncDuplexStreamingCall(GrpcBackend.Chat, null, new CallOptions(cancellationToken: Ct));
        foreach (var message in new[] { "x", "y", "z" })
        {
            await chat.RequestStream.WriteAsync(message, Ct);
            Assert.True(await chat.ResponseStream.MoveNext(Ct));
            Assert.Equal($"a:{message}", chat.ResponseStream.Current);
        }

        await chat.RequestStream.CompleteAsync();
        Assert.False(await chat.ResponseStream.MoveNext(Ct));
        Assert.Equal(StatusCode.OK, chat.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Maglev_OnAMetadataKey_KeepsEachKeyOnOnePod()
    {
        await using var a = await GrpcBackend.StartAsync("a", "127.0.0.25");
        await using var b = await GrpcBackend.StartAsync("b", "127.0.0.26");
        await using var c = await GrpcBackend.StartAsync("c", "127.0.0.27");
        await using var proxy = await StartProxyAsync(LoadBalancingAlgorithm.Maglev, [a.Address, b.Address, c.Address],
            cluster => cluster.HashKey = new HashKeyOptions { Source = HashKeySource.Header, Name = "x-user" });
        using var channel = Channel(proxy);
        var invoker = channel.CreateCallInvoker();

        var podsByUser = new Dictionary<string, HashSet<char>>();
        for (var user = 0; user < 20; user++)
        {
            var metadata = new Metadata { { "x-user", $"user-{user}" } };
            for (var call = 0; call < 5; call++)
            {
                var answer = await invoker.AsyncUnaryCall(GrpcBackend.Unary, null, new CallOptions(metadata, cancellationToken: Ct), "k");
                podsByUser.TryAdd($"user-{user}", []);
                podsByUser[$"user-{user}"].Add(answer[0]);
            }
        }

        Assert.All(podsByUser.Values, pods => Assert.Single(pods));
        Assert.True(podsByUser.Values.Select(p => p.Single()).Distinct().Count() > 1, "twenty keys all hashed to one pod");
    }

    [Fact]
    public async Task UnavailableStatus_CountsAgainstTheEndpoint_AsConfigured()
    {
        await using var a = await GrpcBackend.StartAsync("a", "127.0.0.28");
        await using var counted = await StartProxyAsync(LoadBalancingAlgorithm.RoundRobin, [a.Address], cluster => cluster.OutlierDetection.ConsecutiveFailures = 100);
        await using var notCounted = await StartProxyAsync(LoadBalancingAlgorithm.RoundRobin, [a.Address], cluster =>
        {
            cluster.OutlierDetection.ConsecutiveFailures = 100;
            cluster.Grpc.FailureStatuses = [];
        });

        foreach (var proxy in new[] { counted, notCounted })
        {
            using var channel = Channel(proxy);
            var invoker = channel.CreateCallInvoker();
            for (var i = 0; i < 4; i++)
            {
                var failure = await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(GrpcBackend.Unary, null, new CallOptions(cancellationToken: Ct), "fail").ResponseAsync);
                Assert.Equal(StatusCode.Unavailable, failure.StatusCode);
                Assert.Equal("a is unavailable", failure.Status.Detail);
            }
        }

        Assert.Equal(4, counted.Cluster().Balancer.GetOutlierState(counted.Cluster().Source.Current.States.Single())!.ConsecutiveFailures);
        Assert.Equal(0, notCounted.Cluster().Balancer.GetOutlierState(notCounted.Cluster().Source.Current.States.Single())!.ConsecutiveFailures);
    }

    [Fact]
    public async Task PodKilledMidStream_GivesUnavailable_AndLaterCallsGoToTheOthers()
    {
        var a = await GrpcBackend.StartAsync("a", "127.0.0.29");
        await using var b = await GrpcBackend.StartAsync("b", "127.0.0.30");
        await using var proxy = await StartProxyAsync(LoadBalancingAlgorithm.RoundRobin, a.Address, b.Address);
        using var channel = Channel(proxy);
        var invoker = channel.CreateCallInvoker();

        // Open streams until one is on "a" (round-robin: the first or the second).
        AsyncDuplexStreamingCall<string, string>? onA = null;
        var others = new List<AsyncDuplexStreamingCall<string, string>>();
        while (onA is null)
        {
            var chat = invoker.AsyncDuplexStreamingCall(GrpcBackend.Chat, null, new CallOptions(cancellationToken: Ct));
            await chat.RequestStream.WriteAsync("hello", Ct);
            Assert.True(await chat.ResponseStream.MoveNext(Ct));
            if (chat.ResponseStream.Current == "a:hello")
            {
                onA = chat;
            }
            else
            {
                others.Add(chat);
            }
        }

        await a.KillAsync();

        var cut = await Assert.ThrowsAsync<RpcException>(() => onA.ResponseStream.MoveNext(Ct));
        Assert.Equal(StatusCode.Unavailable, cut.StatusCode);

        // "a" refuses connections now: every later call is answered by "b", retried there when "a" was picked.
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal($"b:{i}", await invoker.AsyncUnaryCall(GrpcBackend.Unary, null, new CallOptions(cancellationToken: Ct), $"{i}"));
        }

        onA.Dispose();
        others.ForEach(call => call.Dispose());
    }

    [Fact]
    public async Task NoReachableEndpoint_IsUnavailableStatus_NotAnHttpError()
    {
        await using var proxy = await StartProxyAsync(LoadBalancingAlgorithm.RoundRobin, Loopback.DeadEndpoint("127.0.0.31"));
        using var channel = Channel(proxy);

        var failure = await Assert.ThrowsAsync<RpcException>(() => channel.CreateCallInvoker().AsyncUnaryCall(GrpcBackend.Unary, null, new CallOptions(cancellationToken: Ct), "x").ResponseAsync);

        Assert.Equal(StatusCode.Unavailable, failure.StatusCode);
        Assert.Equal("upstream connect failed", failure.Status.Detail);
    }

    [Fact]
    public async Task CallDeadline_PassingAtTheProxy_IsDeadlineExceeded()
    {
        await using var a = await GrpcBackend.StartAsync("a", "127.0.0.32");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = TestProxy.GrpcOptions(LoadBalancingAlgorithm.RoundRobin, a.Address);
        await using var proxy = await TestProxy.StartAsync(options, time);
        using var client = new HttpClient(new SocketsHttpHandler());

        // The call as a gRPC client frames it, with a deadline the proxy's clock (not the client's) will pass.
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(proxy.BaseAddress, "/test.Echo/Unary"))
        {
            Content = new ByteArrayContent([0, 0, 0, 0, 4, .. "hang"u8]),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new("application/grpc");
        request.Headers.TryAddWithoutValidation("grpc-timeout", "2S");
        request.Headers.TE.ParseAdd("trailers");
        var sent = client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.True(await a.CallStarted.WaitAsync(TimeSpan.FromSeconds(10), Ct));

        time.Advance(TimeSpan.FromSeconds(3));
        using var response = await sent.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("4", response.Headers.GetValues("grpc-status").Single());
        Assert.Contains("deadline", response.Headers.GetValues("grpc-message").Single(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Http11Client_ToAnHttp2OnlyUpstream_IsForwarded()
    {
        await using var backend = await TestBackend.StartAsync("h2", "127.0.0.33", async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            await context.Response.WriteAsync($"{context.Request.Protocol} {context.Request.Method} {await reader.ReadToEndAsync()}");
        }, protocols: Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2);
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        options.Clusters["web"].Protocol = UpstreamProtocol.Http2;
        await using var proxy = await TestProxy.StartAsync(options);
        using var client = proxy.NewClient();

        using var get = await client.GetAsync("/x?y=1", Ct);
        Assert.Equal(HttpVersion.Version11, get.Version);
        Assert.Equal("HTTP/2 GET ", await get.Content.ReadAsStringAsync(Ct));
        using var post = await client.PostAsync("/x", new StringContent("body over h2"), Ct);
        Assert.Equal("HTTP/2 POST body over h2", await post.Content.ReadAsStringAsync(Ct));
        var seen = backend.Requests.First();
        Assert.Equal("/x?y=1", seen.Target);
        Assert.Equal("127.0.0.1", seen.Headers["X-Forwarded-For"]);
    }

    [Fact]
    public async Task GrpcCall_ToAnHttp1Cluster_IsRefusedAsUnimplemented_NamingTheFix()
    {
        await using var a = await GrpcBackend.StartAsync("a", "127.0.0.34");
        var options = TestProxy.GrpcOptions(LoadBalancingAlgorithm.RoundRobin, a.Address);
        options.Clusters["web"].Protocol = null;
        await using var proxy = await TestProxy.StartAsync(options);
        using var channel = Channel(proxy);

        var failure = await Assert.ThrowsAsync<RpcException>(() => channel.CreateCallInvoker().AsyncUnaryCall(GrpcBackend.Unary, null, new CallOptions(cancellationToken: Ct), "x").ResponseAsync);

        Assert.Equal(StatusCode.Unimplemented, failure.StatusCode);
        Assert.Contains("\"Protocol\": \"Http2\"", failure.Status.Detail, StringComparison.Ordinal);
        Assert.Empty(a.Calls);
        using var backends = System.Text.Json.JsonDocument.Parse(await proxy.Admin.GetStringAsync("/backends", Ct));
        Assert.Equal("Http1", backends.RootElement.GetProperty("clusters")[0].GetProperty("protocol").GetString());
    }

    private static Task<TestProxy> StartProxyAsync(LoadBalancingAlgorithm algorithm, params string[] endpoints) =>
        StartProxyAsync(algorithm, endpoints, null);

    private static Task<TestProxy> StartProxyAsync(LoadBalancingAlgorithm algorithm, string[] endpoints, Action<ClusterOptions>? configure)
    {
        var options = TestProxy.GrpcOptions(algorithm, endpoints);
        configure?.Invoke(options.Clusters["web"]);
        return TestProxy.StartAsync(options);
    }

    private static GrpcChannel Channel(TestProxy proxy) =>
        GrpcChannel.ForAddress(proxy.BaseAddress, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = false } });
}
