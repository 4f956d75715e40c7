using LoadBalancing.Yarp.Tests.Support;
using Yarp.ReverseProxy.Configuration;

namespace LoadBalancing.Yarp.Tests.Configuration;

/// <summary>Bad metadata stops YARP's configuration load (at start-up, or refuses a reload), naming the cluster, key and value.</summary>
public sealed class MetadataValidationTests
{
    [Theory(Timeout = 30_000)]
    [InlineData(LoadBalancingPolicyNames.Maglev, "bogus:x", "'bogus:x', which is not a hash key")]
    [InlineData(LoadBalancingPolicyNames.RingHash, "header", "names no header")]
    [InlineData(LoadBalancingPolicyNames.Maglev, null, "needs the metadata 'LoadBalancing.HashKey'")]
    [InlineData(LoadBalancingPolicyNames.PeakEwma, "cookies:id", "'cookies:id', which is not a hash key")]
    public async Task Start_BadHashKeyMetadata_FailsNamingClusterAndKey(string policy, string? hashKey, string problem)
    {
        var cluster = Cluster(policy, hashKey is null ? null : new Dictionary<string, string> { [LoadBalancingMetadataKeys.HashKey] = hashKey });

        var error = await Assert.ThrowsAnyAsync<Exception>(() => YarpProxy.StartAsync([cluster]));

        var message = Messages(error);
        Assert.Contains("Cluster 'shop'", message, StringComparison.Ordinal);
        Assert.Contains(problem, message, StringComparison.Ordinal);
    }

    [Theory(Timeout = 30_000)]
    [InlineData("0")]
    [InlineData("heavy")]
    [InlineData("1000001")]
    [InlineData("-2")]
    public async Task Start_BadWeightMetadata_FailsNamingDestinationAndValue(string weight)
    {
        var cluster = Cluster(LoadBalancingPolicyNames.RoundRobin, null) with
        {
            Destinations = new Dictionary<string, DestinationConfig>
            {
                ["d1"] = new() { Address = "http://127.0.0.2:1/", Metadata = new Dictionary<string, string> { [LoadBalancingMetadataKeys.Weight] = weight } },
            },
        };

        var error = await Assert.ThrowsAnyAsync<Exception>(() => YarpProxy.StartAsync([cluster]));

        Assert.Contains($"Cluster 'shop', destination 'd1': metadata 'LoadBalancing.Weight' is '{weight}'", Messages(error), StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task Update_BadHashKeyMetadata_IsRefusedAndTheOldConfigurationKeepsServing()
    {
        await using var backends = await Backends.StartAsync(2);
        var good = YarpProxy.Cluster("c", LoadBalancingPolicyNames.Maglev, backends.All, new Dictionary<string, string> { [LoadBalancingMetadataKeys.HashKey] = "header:X-User" });
        await using var proxy = await YarpProxy.StartAsync([good]);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => proxy.UpdateAsync([good with { Metadata = new Dictionary<string, string> { [LoadBalancingMetadataKeys.HashKey] = "header:" } }]));

        Assert.Contains("names no header", Messages(error), StringComparison.Ordinal);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await proxy.GetAsync("/c/x", "X-User", "u")).Status);
    }

    private static ClusterConfig Cluster(string policy, Dictionary<string, string>? metadata) => new()
    {
        ClusterId = "shop",
        LoadBalancingPolicy = policy,
        Metadata = metadata,
        Destinations = new Dictionary<string, DestinationConfig> { ["d1"] = new() { Address = "http://127.0.0.2:1/" } },
    };

    private static string Messages(Exception error)
    {
        var all = new List<string>();
        var pending = new Stack<Exception>([error]);
        while (pending.TryPop(out var e))
        {
            all.Add(e.Message);
            if (e is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    pending.Push(inner);
                }
            }
            else if (e.InnerException is not null)
            {
                pending.Push(e.InnerException);
            }
        }

        return string.Join(" | ", all);
    }
}
