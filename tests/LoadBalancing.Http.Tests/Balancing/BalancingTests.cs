using LoadBalancing.Http.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Http.Tests.Balancing;

/// <summary>The balancing handler against three real Kestrel backends on loopback addresses.</summary>
public sealed class BalancingTests : IAsyncLifetime
{
    private HttpBackend _a = null!;
    private HttpBackend _b = null!;
    private HttpBackend _c = null!;

    public async ValueTask InitializeAsync()
    {
        _a = await HttpBackend.StartAsync("a", "127.0.0.1");
        _b = await HttpBackend.StartAsync("b", "127.0.0.2");
        _c = await HttpBackend.StartAsync("c", "127.0.0.3");
    }

    public async ValueTask DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        await _c.DisposeAsync();
    }

    private IHttpLoadBalancingBuilder AllThree(IHttpLoadBalancingBuilder builder) => builder.FromEndpoints(_a.Endpoint, _b.Endpoint, _c.Endpoint);

    [Fact]
    public async Task RoundRobin_SpreadsRequestsEvenlyOverEveryEndpoint()
    {
        await using var client = TestClient.Create(null, AllThree);

        // The core's round-robin keeps a cursor per thread; synchronous sends from one thread walk one cursor, so
        // the order is exact (async sends pick on whichever thread resumes them, each cursor exact on its own).
        var answered = await Task.Factory.StartNew(() =>
        {
            var counts = new Dictionary<string, int>();
            for (var i = 0; i < 30; i++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "http://payments/");
                using var response = client.Client.Send(request, TestContext.Current.CancellationToken);
                using var reader = new StreamReader(response.Content.ReadAsStream(TestContext.Current.CancellationToken));
                var name = reader.ReadToEnd();
                counts[name] = counts.GetValueOrDefault(name) + 1;
            }

            return counts;
        }, TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default).WaitAsync(TestClient.Bound, TestContext.Current.CancellationToken);

        Assert.Equal(["a", "b", "c"], answered.Keys.Order());
        Assert.All(answered.Values, count => Assert.Equal(10, count));
        Assert.Equal(0, client.Balancer.Source.Current.States.Sum(s => s.InFlight));
    }

    [Fact]
    public async Task Maglev_HashHeader_KeepsEachKeyOnOneEndpoint()
    {
        await using var client = TestClient.Create(o =>
        {
            o.Balancer.Algorithm = LoadBalancingAlgorithm.Maglev;
            o.HashHeader = "x-user";
        }, AllThree);

        var owners = new Dictionary<string, string>();
        for (var round = 0; round < 4; round++)
        {
            for (var user = 0; user < 20; user++)
            {
                var key = "user-" + user;
                var name = await client.WhoAnswersAsync(user: key);
                Assert.Equal(owners.TryAdd(key, name) ? name : owners[key], name);
            }
        }

        Assert.True(owners.Values.Distinct().Count() > 1, "20 keys all hashed to one endpoint.");
    }

    [Fact]
    public async Task RingHash_HashKeyDelegate_KeepsEachKeyOnOneEndpoint()
    {
        await using var client = TestClient.Create(o =>
        {
            o.Balancer.Algorithm = LoadBalancingAlgorithm.RingHash;
            o.HashKey = request => request.RequestUri!.AbsolutePath;
        }, AllThree);

        var owners = new Dictionary<string, string>();
        for (var round = 0; round < 3; round++)
        {
            for (var cart = 0; cart < 20; cart++)
            {
                var path = "/carts/" + cart;
                var name = await client.WhoAnswersAsync(path);
                Assert.Equal(owners.TryAdd(path, name) ? name : owners[path], name);
            }
        }

        Assert.True(owners.Values.Distinct().Count() > 1, "20 keys all hashed to one endpoint.");
    }

    [Fact]
    public async Task PeakEwma_SlowEndpoint_StopsGettingTraffic()
    {
        // The balancer's clock is fake and each backend moves it while it serves, so "slow" is exact: c takes 200 ms
        // on that clock, a and b 1 ms, and nothing depends on how fast the machine is.
        var time = new FakeTimeProvider();
        _a.OnRequest = () => time.Advance(TimeSpan.FromMilliseconds(1));
        _b.OnRequest = () => time.Advance(TimeSpan.FromMilliseconds(1));
        _c.OnRequest = () => time.Advance(TimeSpan.FromMilliseconds(200));
        await using var client = TestClient.Create(o => o.Balancer.Algorithm = LoadBalancingAlgorithm.PeakEwma, AllThree, s => s.AddSingleton<TimeProvider>(time));

        for (var i = 0; i < 60; i++)
        {
            await client.WhoAnswersAsync();
        }

        // Two distinct endpoints are compared per pick: before c has a sample it can win only a tie of two unsampled
        // endpoints (once at most, since the winner is sampled), and once it has one it loses to a and b every time.
        Assert.InRange(_c.Calls, 0, 1);
        Assert.Equal(60, _a.Calls + _b.Calls + _c.Calls);
        Assert.True(_a.Calls > 0 && _b.Calls > 0, $"a {_a.Calls}, b {_b.Calls}");
        var states = client.Balancer.Source.Current;
        var slow = states.States[IndexOf(states, _c)];
        Assert.True(slow.LatencyEstimate is null || slow.LatencyEstimate > TimeSpan.FromMilliseconds(100), $"c's estimate {slow.LatencyEstimate}");
    }

    [Fact]
    public async Task LeastRequest_EndpointWithARequestInFlight_SkippedUntilItEnds()
    {
        await using var client = TestClient.Create(o => o.Balancer.Algorithm = LoadBalancingAlgorithm.LeastRequest, b => b.FromEndpoints(_a.Endpoint, _b.Endpoint));
        var ct = TestContext.Current.CancellationToken;

        // The first request to arrive, at either backend, is held there until the test lets it go.
        var arrived = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = 0;
        foreach (var backend in new[] { _a, _b })
        {
            var name = backend.Name;
            backend.OnRequestAsync = () => Interlocked.Exchange(ref held, 1) == 0 ? HoldAsync(name) : Task.CompletedTask;
        }

        async Task HoldAsync(string name)
        {
            arrived.TrySetResult(name);
            await release.Task.WaitAsync(TestClient.Bound, ct);
        }

        var slow = client.WhoAnswersAsync();
        var busy = await arrived.Task.WaitAsync(TestClient.Bound, ct);
        var set = client.Balancer.Source.Current;
        Assert.Equal(1, set.States.Sum(s => s.InFlight));

        // Two endpoints, two drawn per pick: the one with a request in flight loses every time.
        var answers = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            answers.Add(await client.WhoAnswersAsync());
        }

        release.SetResult();
        Assert.Equal(busy, await slow.WaitAsync(TestClient.Bound, ct));
        Assert.All(answers, name => Assert.NotEqual(busy, name));
        Assert.Equal(0, client.Balancer.Source.Current.States.Sum(s => s.InFlight));
    }

    [Fact]
    public async Task SourcePublish_MovesTheNextRequests()
    {
        var source = new EndpointSource("payments");
        source.Publish([_a.Endpoint]);
        await using var client = TestClient.Create(null, b => b.FromSource(source));
        Assert.Equal("a", await client.WhoAnswersAsync());

        source.Publish([_b.Endpoint, _c.Endpoint]);

        var answered = new HashSet<string>();
        for (var i = 0; i < 10; i++)
        {
            answered.Add(await client.WhoAnswersAsync());
        }

        Assert.DoesNotContain("a", answered);
        Assert.Equal(1, _a.Calls);
    }

    [Fact]
    public async Task OutlierDetection_EndpointAnswering5xx_IsEjectedAfterTheConfiguredFailures()
    {
        var time = new FakeTimeProvider();
        _c.Status = 503;
        await using var client = TestClient.Create(o =>
        {
            o.Balancer.OutlierDetection.ConsecutiveFailures = 3;
            o.Balancer.OutlierDetection.MaxEjectionPercent = 100;
        }, AllThree, s => s.AddSingleton<TimeProvider>(time));

        var answers = new List<string>();
        for (var i = 0; i < 30; i++)
        {
            answers.Add(await client.WhoAnswersAsync());
        }

        // Round-robin sends every third request to c until its third 503; then it is out for the ejection time (30 s on a clock that does not move).
        Assert.Equal(3, _c.Calls);
        Assert.Equal(3, answers.Count(a => a == "c"));
        Assert.Equal(27, _a.Calls + _b.Calls);
        Assert.Equal(1, client.Balancer.Status.EjectedEndpoints);
        var set = client.Balancer.Source.Current;
        Assert.NotNull(client.Balancer.GetOutlierState(set.States[IndexOf(set, _c)])!.EjectedUntil);
    }

    [Fact]
    public async Task OtherHost_PassesThroughUntouched()
    {
        await using var client = TestClient.Create(null, b => b.FromEndpoints(_a.Endpoint));

        using var response = await client.Client.GetAsync(new Uri($"http://{_b.Ip}:{_b.Port}/"), TestContext.Current.CancellationToken);

        Assert.Equal("b", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(0, _a.Calls);
    }

    [Fact]
    public async Task Request_UriRewrittenToTheEndpoint_PathAndQueryKept()
    {
        await using var client = TestClient.Create(null, b => b.FromEndpoints(_a.Endpoint));

        using var response = await client.Client.GetAsync(new Uri("http://payments/orders/7?full=1"), TestContext.Current.CancellationToken);

        Assert.Equal(new Uri($"http://{_a.Ip}:{_a.Port}/orders/7?full=1"), response.RequestMessage!.RequestUri);
    }

    [Fact]
    public async Task Options_Invalid_FailNamingTheServiceAndTheKey()
    {
        await using var client = TestClient.Create(o =>
        {
            o.MaxAttempts = 0;
            o.HashHeader = "x-user";
            o.HashKey = _ => null;
        }, b => b);

        var error = Assert.Throws<OptionsValidationException>(() => client.Balancer);

        Assert.Contains("HTTP service 'payments': MaxAttempts must be 1 to 10; got 0.", error.Failures);
        Assert.Contains("HTTP service 'payments': HashHeader and HashKey are both set; set one.", error.Failures);
        Assert.Contains(error.Failures, f => f.Contains("No endpoint source", StringComparison.Ordinal));
    }

    private static int IndexOf(EndpointSet set, HttpBackend backend)
    {
        for (var i = 0; i < set.Count; i++)
        {
            if (set.Endpoints[i].Port == backend.Port && set.Endpoints[i].Address == backend.Ip)
            {
                return i;
            }
        }

        throw new InvalidOperationException($"{backend.Name} is not in the set.");
    }
}
