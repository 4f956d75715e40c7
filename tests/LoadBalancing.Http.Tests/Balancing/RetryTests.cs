using System.Net;
using LoadBalancing.Http.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancing.Http.Tests.Balancing;

/// <summary>
/// Retries on another endpoint: when nothing was sent, and when resending is safe. Maglev on the <c>x-user</c> header
/// with keys found through the balancer sends each first attempt where the test wants it.
/// </summary>
public sealed class RetryTests
{
    private static void Maglev(HttpLoadBalancingOptions options)
    {
        options.Balancer.Algorithm = LoadBalancingAlgorithm.Maglev;
        options.HashHeader = "x-user";
    }

    [Fact]
    public async Task StoppedBackend_GetAndPost_RetriedOnAnotherEndpointAndSucceed()
    {
        await using var a = await HttpBackend.StartAsync("a", "127.0.0.1");
        using var down = new DownBackend("127.0.0.4");
        await using var client = TestClient.Create(Maglev, b => b.FromEndpoints(down.Endpoint, a.Endpoint));
        var toDown = client.KeyFor(down.Endpoint);

        using (var get = await client.SendAsync(HttpMethod.Get, toDown))
        {
            Assert.Equal("a", await get.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }

        // Nothing reached a server on the failed attempt: a connect failure is retried whatever the method and content.
        using (var post = await client.SendAsync(HttpMethod.Post, toDown, new StreamContent(new MemoryStream([1, 2, 3]))))
        {
            Assert.Equal("a", await post.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }

        Assert.Equal(2, a.Calls);
        Assert.Equal(1, a.Posts);
        var set = client.Balancer.Source.Current;
        Assert.Equal(2, client.Balancer.GetOutlierState(set.States[set.Endpoints[0].Equals(down.Endpoint) ? 0 : 1])!.ConsecutiveFailures);
        Assert.All(set.States, s => Assert.Equal(0, s.InFlight));
    }

    [Fact]
    public async Task ConnectionDroppedAfterTheRequest_PostNotRetried_GetRetried()
    {
        await using var a = await HttpBackend.StartAsync("a", "127.0.0.1");
        await using var dropping = await HttpBackend.StartAsync("dropping", "127.0.0.2");
        dropping.Abort = true;
        await using var client = TestClient.Create(Maglev, b => b.FromEndpoints(dropping.Endpoint, a.Endpoint));
        var toDropping = client.KeyFor(dropping.Endpoint);

        // The dropping backend read the POST: it may have acted on it, so it is not sent again.
        await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(HttpMethod.Post, toDropping, new StringContent("order")));

        Assert.Equal(1, dropping.Posts);
        Assert.Equal(0, a.Calls);

        // A GET (and a PUT with buffered content) is safe to send twice: it goes to a.
        using (var get = await client.SendAsync(HttpMethod.Get, toDropping))
        {
            Assert.Equal("a", await get.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }

        using (var put = await client.SendAsync(HttpMethod.Put, toDropping, new StringContent("order")))
        {
            Assert.Equal("a", await put.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }

        Assert.Equal(3, dropping.Calls);
        Assert.Equal(2, a.Calls);
    }

    [Fact]
    public async Task RetryStatus_IdempotentWithReplayableContentRetried_PostAndStreamContentAnswered()
    {
        await using var a = await HttpBackend.StartAsync("a", "127.0.0.1");
        await using var busy = await HttpBackend.StartAsync("busy", "127.0.0.2");
        busy.Status = 503;
        await using var client = TestClient.Create(o =>
        {
            Maglev(o);
            o.RetryStatusCodes.Add(503);
        }, b => b.FromEndpoints(busy.Endpoint, a.Endpoint));
        var toBusy = client.KeyFor(busy.Endpoint);

        using (var post = await client.SendAsync(HttpMethod.Post, toBusy, new StringContent("order")))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, post.StatusCode);
        }

        // Idempotent, but its content is a stream that was read: not sent again.
        using (var put = await client.SendAsync(HttpMethod.Put, toBusy, new StreamContent(new MemoryStream([1, 2, 3]))))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, put.StatusCode);
        }

        Assert.Equal(2, busy.Calls);
        Assert.Equal(0, a.Calls);

        using (var put = await client.SendAsync(HttpMethod.Put, toBusy, new ByteArrayContent([1, 2, 3])))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using (var delete = await client.SendAsync(HttpMethod.Delete, toBusy))
        {
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        }

        Assert.Equal(4, busy.Calls);
        Assert.Equal(2, a.Calls);
    }

    [Fact]
    public async Task EveryEndpointFailing_LastAnswerReturned_AttemptsBounded()
    {
        await using var a = await HttpBackend.StartAsync("a", "127.0.0.1");
        await using var b = await HttpBackend.StartAsync("b", "127.0.0.2");
        await using var c = await HttpBackend.StartAsync("c", "127.0.0.3");
        a.Status = b.Status = c.Status = 503;
        await using var client = TestClient.Create(o =>
        {
            o.MaxAttempts = 2;
            o.RetryStatusCodes.Add(503);
        }, x => x.FromEndpoints(a.Endpoint, b.Endpoint, c.Endpoint));

        using var response = await client.Client.GetAsync(new Uri("http://payments/"), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(2, a.Calls + b.Calls + c.Calls);
        Assert.Equal(0, client.Balancer.Source.Current.States.Sum(s => s.InFlight));
    }

    [Fact]
    public async Task NoEndpoint_FailsNamingTheService()
    {
        var source = new EndpointSource("payments");
        await using var client = TestClient.Create(null, b => b.FromSource(source));

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.Client.GetAsync(new Uri("http://payments/"), TestContext.Current.CancellationToken));

        Assert.Equal("No endpoint for 'payments': its endpoints are not known yet (the source has not synced).", error.Message);
        Assert.Equal(HttpRequestError.ConnectionError, error.HttpRequestError);
    }
}
