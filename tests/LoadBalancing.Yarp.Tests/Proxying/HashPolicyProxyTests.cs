using System.Globalization;
using System.Net;
using LoadBalancing.Yarp.Tests.Support;

namespace LoadBalancing.Yarp.Tests.Proxying;

/// <summary>Maglev and ring-hash through a real YARP proxy in front of real Kestrel backends on 127.0.0.x.</summary>
public sealed class HashPolicyProxyTests
{
    [Fact(Timeout = 60_000)]
    public async Task Maglev_HeaderKey_KeepsEachKeyOnOneBackendAndSpreadsKeysOverAll()
    {
        await using var backends = await Backends.StartAsync(4);
        await using var proxy = await YarpProxy.StartAsync([YarpProxy.Cluster("c", LoadBalancingPolicyNames.Maglev, backends.All, HashKey("header:X-User"))]);

        var sticky = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 100; i++)
        {
            var (status, body) = await proxy.GetAsync("/c/orders", "X-User", "alice");
            Assert.Equal(HttpStatusCode.OK, status);
            sticky.Add(body);
        }

        Assert.Single(sticky);

        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var round = 0; round < 2; round++)
        {
            for (var k = 0; k < 50; k++)
            {
                var key = "user-" + k.ToString(CultureInfo.InvariantCulture);
                var (_, body) = await proxy.GetAsync("/c/orders", "X-User", key);
                Assert.Equal(owners.TryAdd(key, body) ? body : owners[key], body);
            }
        }

        Assert.Equal(backends.All.Select(b => b.Name).Order(), owners.Values.Distinct().Order());
    }

    [Fact(Timeout = 90_000)]
    public async Task Maglev_AddingADestination_MovesAboutOneNthOfTheKeys()
    {
        await using var backends = await Backends.StartAsync(5);
        var first4 = backends.All.Take(4).ToArray();
        await using var proxy = await YarpProxy.StartAsync([YarpProxy.Cluster("c", LoadBalancingPolicyNames.Maglev, first4, HashKey("header:X-User"))]);
        const int Keys = 200;
        var before = await OwnersAsync(proxy, Keys);

        await proxy.UpdateAsync([YarpProxy.Cluster("c", LoadBalancingPolicyNames.Maglev, backends.All, HashKey("header:X-User"))]);
        var after = await OwnersAsync(proxy, Keys);

        var newcomer = backends.All[4].Name;
        var moved = Enumerable.Range(0, Keys).Where(k => before[k] != after[k]).ToArray();
        var movedToNewcomer = moved.Count(k => after[k] == newcomer);

        // 4 → 5 endpoints: ideally exactly the newcomer's fifth moves, all of it to the newcomer.
        Assert.InRange(moved.Length, Keys * 10 / 100, Keys * 32 / 100);
        Assert.True(movedToNewcomer >= moved.Length * 9 / 10, $"{movedToNewcomer} of {moved.Length} moved keys went to the new destination");
    }

    [Fact(Timeout = 60_000)]
    public async Task RingHash_QueryKey_KeepsEachKeyOnOneBackend()
    {
        await using var backends = await Backends.StartAsync(3);
        await using var proxy = await YarpProxy.StartAsync([YarpProxy.Cluster("c", LoadBalancingPolicyNames.RingHash, backends.All, HashKey("query:tenant"))]);

        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var round = 0; round < 3; round++)
        {
            for (var k = 0; k < 30; k++)
            {
                var (status, body) = await proxy.GetAsync($"/c/items?x=1&tenant=t{k}");
                Assert.Equal(HttpStatusCode.OK, status);
                Assert.Equal(owners.TryAdd("t" + k, body) ? body : owners["t" + k], body);
            }
        }

        Assert.True(owners.Values.Distinct().Count() > 1, "every tenant landed on one backend");
    }

    internal static Dictionary<string, string> HashKey(string value) => new(StringComparer.Ordinal) { [LoadBalancingMetadataKeys.HashKey] = value };

    private static async Task<string[]> OwnersAsync(YarpProxy proxy, int keys)
    {
        var owners = new string[keys];
        for (var k = 0; k < keys; k++)
        {
            var (status, body) = await proxy.GetAsync("/c/x", "X-User", "key-" + k.ToString(CultureInfo.InvariantCulture));
            Assert.Equal(HttpStatusCode.OK, status);
            owners[k] = body;
        }

        return owners;
    }
}
