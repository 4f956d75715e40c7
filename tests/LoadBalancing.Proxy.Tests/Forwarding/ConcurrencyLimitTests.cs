using System.Net;
using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace LoadBalancing.Proxy.Tests.Forwarding;

/// <summary>
/// A cluster's <c>MaxConcurrentRequests</c>: with that many requests held by a slow upstream, the next one is answered
/// 503 at once without reaching an endpoint, and requests go through again as soon as one of the held ones ends.
/// </summary>
public sealed class ConcurrencyLimitTests
{
    private const string Refusal = "the cluster is at its limit of concurrent requests\n";

    [Theory(Timeout = 30_000)]
    [InlineData(UpstreamProtocol.Http1)]
    [InlineData(UpstreamProtocol.Http2)]
    public async Task OneRequestOverTheLimit_Gets503AtOnce_AndNeverReachesTheUpstream(UpstreamProtocol protocol)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await HoldingUpstream.StartAsync("127.0.0.61", protocol);
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address);
        options.Clusters["web"].Protocol = protocol;
        options.Clusters["web"].MaxConcurrentRequests = 2;
        await using var proxy = await TestProxy.StartAsync(options);
        using var client = proxy.NewClient();

        var held = new[] { client.GetAsync("/held/1", ct), client.GetAsync("/held/2", ct) };
        await upstream.UntilHoldingAsync(2);

        using var refused = await client.GetAsync("/refused", ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(Refusal, await refused.Content.ReadAsStringAsync(ct));
        Assert.Equal(2, upstream.Arrived);
        Assert.Equal(1, proxy.Cluster().Metrics.Errors(UpstreamError.Overflow));

        upstream.Release();
        await AllAnsweredOkAsync(held);

        using var after = await client.GetAsync("/after", ct);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(3, upstream.Arrived);
        Assert.Equal(0, proxy.Cluster().Metrics.InFlight);
        var metrics = await proxy.Admin.GetStringAsync("/metrics", ct);
        Assert.Contains("lb_proxy_upstream_errors_total{cluster=\"web\",kind=\"overflow\"} 1\n", metrics, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task AGrpcCallOverTheLimit_GetsUnavailable_AndNeverReachesTheUpstream()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var backend = await GrpcBackend.StartAsync("grpc", "127.0.0.73");
        var options = TestProxy.GrpcOptions(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        options.Clusters["web"].MaxConcurrentRequests = 1;
        await using var proxy = await TestProxy.StartAsync(options);
        using var channel = global::Grpc.Net.Client.GrpcChannel.ForAddress(proxy.BaseAddress);
        var invoker = channel.CreateCallInvoker();

        // The backend holds a "hang" call until the client cancels it.
        using var hold = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var held = invoker.AsyncUnaryCall(GrpcBackend.Unary, null, new global::Grpc.Core.CallOptions(cancellationToken: hold.Token), "hang");
        Assert.True(await backend.CallStarted.WaitAsync(TimeSpan.FromSeconds(20), ct), "the held call never reached the backend");

        var refused = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(async () =>
            await invoker.AsyncUnaryCall(GrpcBackend.Unary, null, new global::Grpc.Core.CallOptions(cancellationToken: ct), "refused"));
        Assert.Equal((global::Grpc.Core.StatusCode.Unavailable, "the cluster is at its limit of concurrent requests"), (refused.StatusCode, refused.Status.Detail));
        Assert.Single(backend.Calls);

        await hold.CancelAsync();
        await Assert.ThrowsAnyAsync<global::Grpc.Core.RpcException>(async () => await held);
        Assert.True(SpinWait.SpinUntil(() => proxy.Cluster().Metrics.InFlight == 0, TimeSpan.FromSeconds(10)), "the held call is still counted");
        Assert.Equal("grpc:after", await invoker.AsyncUnaryCall(GrpcBackend.Unary, null, new global::Grpc.Core.CallOptions(cancellationToken: ct), "after"));
    }

    [Fact(Timeout = 30_000)]
    public async Task TheLimitFollowsReloads_CountingRequestsThatStartedBeforeIt()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await HoldingUpstream.StartAsync("127.0.0.62", UpstreamProtocol.Http1);
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, upstream.Address);
        await using var proxy = await TestProxy.StartAsync(options);
        using var client = proxy.NewClient();
        var cluster = proxy.Cluster();

        // No limit by default: three requests held at once.
        var held = new[] { client.GetAsync("/held/1", ct), client.GetAsync("/held/2", ct), client.GetAsync("/held/3", ct) };
        await upstream.UntilHoldingAsync(3);

        // A limit below what is in flight refuses the next request at once; the cluster (and its count) stays.
        Assert.Equal(ReloadOutcome.Applied, proxy.Runtime.Reload(WithLimit(options, 3), [], "test").Outcome);
        Assert.Same(cluster, proxy.Cluster());
        using (var refused = await client.GetAsync("/refused", ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal(Refusal, await refused.Content.ReadAsStringAsync(ct));
        }

        // Raised by one, the next request is forwarded; taking the limit out lets any number through.
        Assert.Equal(ReloadOutcome.Applied, proxy.Runtime.Reload(WithLimit(options, 4), [], "test").Outcome);
        var fourth = client.GetAsync("/held/4", ct);
        await upstream.UntilHoldingAsync(4);
        Assert.Equal(ReloadOutcome.Applied, proxy.Runtime.Reload(WithLimit(options, null), [], "test").Outcome);
        var fifth = client.GetAsync("/held/5", ct);
        await upstream.UntilHoldingAsync(5);

        upstream.Release();
        await AllAnsweredOkAsync([.. held, fourth, fifth]);

        Assert.Equal(1, cluster.Metrics.Errors(UpstreamError.Overflow));
    }

    [Theory(Timeout = 30_000)]
    [InlineData(UpstreamProtocol.Http1)]
    [InlineData(UpstreamProtocol.Http2)]
    public async Task AFullEndpoint_SendsItsRequestsToOneWithRoom_AndWithEveryEndpointFull_503AtOnce(UpstreamProtocol protocol)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var first = await HoldingUpstream.StartAsync("127.0.0.63", protocol);
        await using var second = await HoldingUpstream.StartAsync("127.0.0.64", protocol);

        // One hash key for every request: maglev sends them all to one endpoint until it is full.
        var options = TestProxy.Options(LoadBalancingAlgorithm.Maglev, first.Address, second.Address);
        options.Clusters["web"].Protocol = protocol;
        options.Clusters["web"].HashKey = new HashKeyOptions { Source = HashKeySource.Header, Name = "X-User" };
        options.Clusters["web"].MaxRequestsPerEndpoint = 2;
        await using var proxy = await TestProxy.StartAsync(options);
        using var client = proxy.NewClient();
        client.DefaultRequestHeaders.Add("X-User", "same");

        var held = Enumerable.Range(1, 4).Select(i => client.GetAsync($"/held/{i}", ct)).ToArray();
        await first.UntilHoldingAsync(2);
        await second.UntilHoldingAsync(2);

        using (var refused = await client.GetAsync("/refused", ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("every endpoint is at its limit of concurrent requests\n", await refused.Content.ReadAsStringAsync(ct));
        }

        Assert.Equal((2, 2), (first.Arrived, second.Arrived));
        Assert.Equal(1, proxy.Cluster().Metrics.Errors(UpstreamError.Overflow));
        Assert.All(proxy.Cluster().Source.Current.States, s => Assert.Equal(2, s.InFlight));

        first.Release();
        second.Release();
        await AllAnsweredOkAsync(held);

        using var after = await client.GetAsync("/after", ct);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(5, first.Arrived + second.Arrived);
    }

    /// <summary>Waits for the requests an upstream held (now released): each answered 200.</summary>
    private static async Task AllAnsweredOkAsync(IEnumerable<Task<HttpResponseMessage>> held)
    {
        foreach (var response in await Task.WhenAll(held))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }
    }

    private static ProxyOptions WithLimit(ProxyOptions options, int? limit)
    {
        var next = TestTransport.Apply(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, options.Clusters["web"].Endpoints[0].Address));
        next.Clusters["web"].MaxConcurrentRequests = limit;
        return next;
    }

    /// <summary>An upstream that holds every request until released, and tells how many have arrived.</summary>
    private sealed class HoldingUpstream : IAsyncDisposable
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Lock _sync = new();
        private readonly List<(int Count, TaskCompletionSource Reached)> _waiters = [];
        private TestBackend _server = null!;
        private int _arrived;

        public string Address => _server.Address;

        public int Arrived => Volatile.Read(ref _arrived);

        public static async Task<HoldingUpstream> StartAsync(string ip, UpstreamProtocol protocol)
        {
            var upstream = new HoldingUpstream();
            upstream._server = await TestBackend.StartAsync("holding", ip, upstream.HoldAsync, protocols: protocol == UpstreamProtocol.Http2 ? HttpProtocols.Http2 : HttpProtocols.Http1);
            return upstream;
        }

        /// <summary>Completes once <paramref name="count"/> requests have arrived (bounded wait).</summary>
        public Task UntilHoldingAsync(int count)
        {
            lock (_sync)
            {
                if (_arrived >= count)
                {
                    return Task.CompletedTask;
                }

                var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiters.Add((count, reached));
                return reached.Task.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
            }
        }

        public void Release() => _release.TrySetResult();

        public ValueTask DisposeAsync()
        {
            Release();
            return _server.DisposeAsync();
        }

        private async Task HoldAsync(HttpContext context)
        {
            lock (_sync)
            {
                _arrived++;
                foreach (var (count, reached) in _waiters.Where(w => w.Count <= _arrived))
                {
                    reached.TrySetResult();
                }
            }

            await _release.Task.WaitAsync(context.RequestAborted);
            await context.Response.WriteAsync("held", context.RequestAborted);
        }
    }
}
