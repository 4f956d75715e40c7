using LoadBalancing.Http.Internal;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancing.Http.Tests.Support;

/// <summary>A container with one load-balanced client for the service <c>payments</c>, and helpers to call it.</summary>
internal sealed class TestClient : IAsyncDisposable
{
    public const string Service = "payments";

    /// <summary>The bound on every wait and request.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private TestClient(ServiceProvider services)
    {
        Services = services;
        Client = services.GetRequiredService<IHttpClientFactory>().CreateClient("client");
        Client.Timeout = Bound;
    }

    public ServiceProvider Services { get; }

    public HttpClient Client { get; }

    /// <summary>The service's core balancer (created on first use).</summary>
    public Balancer Balancer => Services.GetRequiredService<HttpServiceRegistry>().Get(Service).Balancer;

    /// <summary>Builds the container: <paramref name="configureServices"/> runs first (to register a clock), then <paramref name="endpoints"/> binds the source.</summary>
    public static TestClient Create(Action<HttpLoadBalancingOptions>? configure, Func<IHttpLoadBalancingBuilder, IHttpLoadBalancingBuilder> endpoints, Action<IServiceCollection>? configureServices = null)
    {
        var services = new ServiceCollection();
        configureServices?.Invoke(services);
        endpoints(services.AddHttpClient("client").AddLoadBalancing(Service, configure));
        return new TestClient(services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true }));
    }

    /// <summary>Sends a GET to <c>http://payments/</c> and returns the answering backend's name.</summary>
    public async Task<string> WhoAnswersAsync(string path = "/", string? user = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{Service}{path}");
        if (user is not null)
        {
            request.Headers.Add("x-user", user);
        }

        using var response = await Client.SendAsync(request, TestContext.Current.CancellationToken);
        return await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>
    /// A key (for the <c>x-user</c> header) that the service's hash table maps to <paramref name="endpoint"/>: found by
    /// asking the balancer itself, so the test does not depend on the ports the backends got.
    /// </summary>
    public string KeyFor(BackendEndpoint endpoint)
    {
        for (var i = 0; i < 10_000; i++)
        {
            var key = "user-" + i;
            var pick = Balancer.Pick(PickContext.ForHash(RequestKey.FromString(key)));
            pick.Release();
            if (endpoint.Equals(pick.Endpoint))
            {
                return key;
            }
        }

        throw new InvalidOperationException($"No key maps to {endpoint}.");
    }

    /// <summary>Sends <paramref name="request"/> with the <c>x-user</c> header set to <paramref name="user"/>.</summary>
    public Task<HttpResponseMessage> SendAsync(HttpMethod method, string user, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, $"http://{Service}/orders") { Content = content };
        request.Headers.Add("x-user", user);
        return Client.SendAsync(request, TestContext.Current.CancellationToken);
    }

    public ValueTask DisposeAsync() => Services.DisposeAsync();
}
