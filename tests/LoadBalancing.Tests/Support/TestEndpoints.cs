using System.Globalization;

namespace LoadBalancing.Tests.Support;

internal static class TestEndpoints
{
    /// <summary>n endpoints on distinct loopback addresses (127.1.x.y:8080), weight 1 unless given.</summary>
    public static BackendEndpoint[] Make(int n, Func<int, int>? weight = null) =>
        Enumerable.Range(0, n)
            .Select(i => new BackendEndpoint(Address(i), 8080, weight?.Invoke(i) ?? 1))
            .ToArray();

    public static string Address(int i) =>
        string.Create(CultureInfo.InvariantCulture, $"127.{1 + (i >> 16)}.{(i >> 8) & 0xFF}.{i & 0xFF}");

    /// <summary>Envoy's test hosts: 127.0.0.1:90 … :95 with their default "ip:port" hash keys.</summary>
    public static BackendEndpoint[] EnvoyHosts(int firstPort, int count, Func<int, int>? weight = null, bool hostnameKeys = false) =>
        Enumerable.Range(0, count)
            .Select(i => new BackendEndpoint(
                "127.0.0.1",
                firstPort + i,
                weight?.Invoke(i) ?? 1,
                hashKey: hostnameKeys ? (firstPort + i).ToString(CultureInfo.InvariantCulture) : null))
            .ToArray();

    public static BalancerOptions Options(LoadBalancingAlgorithm algorithm, Action<BalancerOptions>? configure = null)
    {
        var options = new BalancerOptions { Algorithm = algorithm };
        configure?.Invoke(options);
        return options;
    }

    /// <summary>A balancer over a fresh source holding <paramref name="endpoints"/>.</summary>
    public static Balancer Balancer(
        BackendEndpoint[] endpoints,
        BalancerOptions options,
        TimeProvider? time = null,
        Random? random = null,
        bool perThreadRoundRobin = false)
    {
        var source = new EndpointSource("test", time);
        source.Publish(endpoints);
        return new Balancer(source, options, time, random, perThreadRoundRobin);
    }

    /// <summary>Picks and completes at once, returning the endpoint (picks never left in flight).</summary>
    public static BackendEndpoint PickAndComplete(this Balancer balancer, in PickContext context, bool success = true, TimeSpan? latency = null)
    {
        var result = balancer.Pick(context);
        Assert.True(result.HasEndpoint, "expected an endpoint");
        result.Complete(success, latency ?? TimeSpan.FromMilliseconds(1));
        return result.Endpoint!;
    }
}
