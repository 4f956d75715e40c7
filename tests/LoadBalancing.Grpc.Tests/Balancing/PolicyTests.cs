using Grpc.Core;
using LoadBalancing.Grpc.Tests.Support;
using LoadBalancing.Proxy.Tests.Support;

namespace LoadBalancing.Grpc.Tests.Balancing;

/// <summary>The policies inside real grpc-dotnet channels, against real gRPC servers on 127.0.0.x.</summary>
public sealed class PolicyTests : IAsyncLifetime
{
    private GrpcBackend _a = null!;
    private GrpcBackend _b = null!;
    private GrpcBackend _c = null!;
    private readonly EndpointSource _source = new("orders");

    public async ValueTask InitializeAsync()
    {
        _a = await GrpcBackend.StartAsync("a", "127.0.0.1");
        _b = await GrpcBackend.StartAsync("b", "127.0.0.2");
        _c = await GrpcBackend.StartAsync("c", "127.0.0.3");
        _source.Publish([Endpoint(_a), Endpoint(_b), Endpoint(_c)]);
    }

    public async ValueTask DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        await _c.DisposeAsync();
    }

    private static BackendEndpoint Endpoint(GrpcBackend backend) => new(backend.Ip, backend.Port);

    [Fact]
    public async Task PeakEwma_ThreeServers_SpreadsCalls_ThenMovesAwayFromTheSlowOne()
    {
        // An endpoint without a sample costs DefaultRtt: lower than any real call here, so each is tried once at the start.
        await using var channel = TestChannel.ForSource(_source, new PeakEwmaConfig(), o => o.PeakEwma.DefaultRtt = TimeSpan.FromMicroseconds(50));
        await channel.WhenReadyAsync(_a, _b, _c);

        var first = new Dictionary<string, int>();
        for (var i = 0; i < 30; i++)
        {
            var who = await channel.WhoAnswersAsync();
            first[who] = first.GetValueOrDefault(who) + 1;
        }

        Assert.Equal(["a", "b", "c"], first.Keys.Order());

        _c.Delay = TimeSpan.FromMilliseconds(200);
        var before = _c.Calls.Count;
        for (var i = 0; i < 60; i++)
        {
            await channel.WhoAnswersAsync();
        }

        // One slow call sets c's peak estimate to 200 ms; against a and b at a few milliseconds it loses every comparison.
        Assert.InRange(_c.Calls.Count - before, 0, 3);
    }

    [Fact]
    public async Task Maglev_HashKeyHeader_KeepsEachKeyOnOneServer()
    {
        await using var channel = TestChannel.ForSource(_source, new MaglevConfig { HashKey = "x-user" });
        await channel.WhenReadyAsync(_a, _b, _c);

        var servers = new Dictionary<string, HashSet<string>>();
        for (var round = 0; round < 4; round++)
        {
            for (var user = 0; user < 12; user++)
            {
                var key = "user-" + user;
                var who = await channel.WhoAnswersAsync(key);
                (servers.TryGetValue(key, out var set) ? set : servers[key] = []).Add(who);
            }
        }

        Assert.All(servers, s => Assert.Single(s.Value));
        Assert.True(servers.Values.Select(s => s.Single()).Distinct().Count() > 1, "twelve keys all hashed to one server");
    }

    [Fact]
    public async Task RingHash_HashKeyHeader_KeepsEachKeyOnOneServer()
    {
        await using var channel = TestChannel.ForSource(_source, new RingHashConfig { HashKey = "X-User" });
        await channel.WhenReadyAsync(_a, _b, _c);

        var servers = new Dictionary<string, HashSet<string>>();
        for (var round = 0; round < 3; round++)
        {
            for (var user = 0; user < 12; user++)
            {
                var key = "user-" + user;
                (servers.TryGetValue(key, out var set) ? set : servers[key] = []).Add(await channel.WhoAnswersAsync(key));
            }
        }

        Assert.All(servers, s => Assert.Single(s.Value));
    }

    [Fact]
    public async Task LeastRequest_EndpointRemovedFromSource_StopsReceivingCalls()
    {
        await using var channel = TestChannel.ForSource(_source, new LeastRequestConfig());
        await channel.WhenReadyAsync(_a, _b, _c);
        for (var i = 0; i < 30; i++)
        {
            await channel.WhoAnswersAsync();
        }

        Assert.NotEmpty(_c.Calls);

        _source.Publish([Endpoint(_a), Endpoint(_b)]);
        await channel.WhenReadyAsync(_a, _b);
        var before = _c.Calls.Count;
        var answered = new HashSet<string>();
        for (var i = 0; i < 30; i++)
        {
            answered.Add(await channel.WhoAnswersAsync());
        }

        Assert.Equal(before, _c.Calls.Count);
        Assert.Equal(["a", "b"], answered.Order());
    }

    [Fact]
    public async Task Unavailable_CountsAsFailure_AndEjectsTheServer()
    {
        await using var channel = TestChannel.ForSource(_source, new LeastRequestConfig(), o => o.OutlierDetection.ConsecutiveFailures = 3);
        var balancer = await channel.WhenReadyAsync(_a, _b, _c);
        _b.Failing = true;

        var failures = 0;
        for (var i = 0; i < 60 && TestChannel.OutlierOf(balancer, _b).EjectionCount == 0; i++)
        {
            try
            {
                await channel.WhoAnswersAsync();
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
            {
                failures++;
            }
        }

        var state = TestChannel.OutlierOf(balancer, _b);
        Assert.Equal(3, failures);
        Assert.Equal(1, state.EjectionCount);
        Assert.NotNull(state.EjectedUntil);

        var before = _b.Calls.Count;
        for (var i = 0; i < 20; i++)
        {
            await channel.WhoAnswersAsync();
        }

        Assert.Equal(before, _b.Calls.Count);
    }

    [Fact]
    public async Task Unavailable_SingleCall_CountsOneConsecutiveFailure_SuccessResets()
    {
        var source = new EndpointSource("one");
        source.Publish([Endpoint(_a)]);
        await using var channel = TestChannel.ForSource(source, new PeakEwmaConfig());
        var balancer = await channel.WhenReadyAsync(_a);

        var error = await Assert.ThrowsAsync<RpcException>(() => channel.CallAsync("fail"));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        await TestChannel.WhenIdleAsync(balancer);
        Assert.Equal(1, TestChannel.OutlierOf(balancer, _a).ConsecutiveFailures);

        await channel.CallAsync("ok");
        await TestChannel.WhenIdleAsync(balancer);
        Assert.Equal(0, TestChannel.OutlierOf(balancer, _a).ConsecutiveFailures);
        Assert.NotNull(TestChannel.StateOf(balancer, _a).LatencyEstimate);
    }

    [Fact]
    public async Task ServerStream_StatusInTrailers_CountsWhenTheStreamEnds()
    {
        var source = new EndpointSource("stream");
        source.Publish([Endpoint(_a)]);
        await using var channel = TestChannel.ForSource(source, new LeastRequestConfig());
        var balancer = await channel.WhenReadyAsync(_a);
        var state = TestChannel.StateOf(balancer, _a);

        using (var call = channel.Invoker.AsyncServerStreamingCall(GrpcBackend.Count, null, new CallOptions(deadline: DateTime.UtcNow + TestChannel.Bound), "3!"))
        {
            Assert.True(await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken));
            // Messages arrived, the status has not: the call is still in flight.
            Assert.Equal(1, state.InFlight);
            var error = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                while (await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken))
                {
                }
            });
            Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        }

        await TestChannel.WhenIdleAsync(balancer);
        Assert.Equal(1, TestChannel.OutlierOf(balancer, _a).ConsecutiveFailures);

        using (var call = channel.Invoker.AsyncServerStreamingCall(GrpcBackend.Count, null, new CallOptions(deadline: DateTime.UtcNow + TestChannel.Bound), "3"))
        {
            while (await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken))
            {
            }
        }

        await TestChannel.WhenIdleAsync(balancer);
        Assert.Equal(0, TestChannel.OutlierOf(balancer, _a).ConsecutiveFailures);
    }

    [Fact]
    public async Task WithoutFeedbackHandler_UnavailableIsNotSeen_CallsStillComplete()
    {
        var source = new EndpointSource("plain");
        source.Publish([Endpoint(_a)]);
        await using var channel = TestChannel.ForSource(source, new PeakEwmaConfig(), feedback: false);
        var balancer = await channel.WhenReadyAsync(_a);

        await Assert.ThrowsAsync<RpcException>(() => channel.CallAsync("fail"));
        await channel.CallAsync("ok");

        await TestChannel.WhenIdleAsync(balancer);
        Assert.Equal(0, TestChannel.OutlierOf(balancer, _a).ConsecutiveFailures);
    }
}
