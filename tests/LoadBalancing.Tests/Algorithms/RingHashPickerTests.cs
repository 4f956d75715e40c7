using FsCheck;
using FsCheck.Xunit;
using LoadBalancing.Algorithms;
using LoadBalancing.Tests.Support;

namespace LoadBalancing.Tests.Algorithms;

public sealed class RingHashPickerTests
{
    // Envoy's published ring (test/extensions/load_balancing_policies/ring_hash/ring_hash_lb_test.cc, Basic):
    // hosts 127.0.0.1:90…95, minimum ring size 12, xxHash64.
    private static readonly (ulong Hash, int Port)[] EnvoyBasicRing =
    [
        (833437586790550860, 94), (928266305478181108, 92), (1033482794131418490, 90),
        (3551244743356806947, 95), (3851675632748031481, 93), (5583722120771150861, 91),
        (6311230543546372928, 91), (7700377290971790572, 93), (13144177310400110813, 95),
        (13444792449719432967, 92), (15516499411664133160, 94), (16117243373044804889, 90),
    ];

    [Fact]
    public void Ring_EnvoyBasic_IsIdenticalToEnvoys()
    {
        var picker = PickerBuilder.Ring(TestEndpoints.EnvoyHosts(90, 6), minRing: 12);

        var ring = picker.Hashes.ToArray().Zip(picker.Owners.ToArray(), (h, o) => (h, picker.Endpoints[o].Port));
        Assert.Equal(EnvoyBasicRing, ring);
    }

    [Theory]
    [InlineData(0UL, 94)]
    [InlineData(ulong.MaxValue, 94)]
    [InlineData(3551244743356806947UL, 95)]
    [InlineData(3551244743356806948UL, 93)]
    [InlineData(16117243373044804880UL, 90)]
    public void Lookup_EnvoyBasic_PicksWhatEnvoyPicks(ulong hash, int port)
    {
        var picker = PickerBuilder.Ring(TestEndpoints.EnvoyHosts(90, 6), minRing: 12);

        Assert.Equal(port, picker.Endpoints[picker.Lookup(hash)].Port);
    }

    [Theory]
    [InlineData(0UL, 95)]
    [InlineData(ulong.MaxValue, 95)]
    [InlineData(7225015537174310577UL, 92)]
    [InlineData(6803900775736438537UL, 93)]
    public void Lookup_EnvoyHostnameKeys_PicksWhatEnvoyPicks(ulong hash, int port)
    {
        var picker = PickerBuilder.Ring(TestEndpoints.EnvoyHosts(90, 6, hostnameKeys: true), minRing: 12);

        Assert.Equal(12, picker.RingSize);
        Assert.Equal(port, picker.Endpoints[picker.Lookup(hash)].Port);
    }

    [Fact]
    public void Ring_EnvoyUnevenHosts_HasEnvoysSizeAndEntries()
    {
        // Envoy: 2 hosts, minimum ring size 3 → 2 entries each, ring size 4.
        var picker = PickerBuilder.Ring(TestEndpoints.EnvoyHosts(80, 2), minRing: 3);

        Assert.Equal([5454692015285649509UL, 7859399908942313493UL, 13838424394637650569UL, 16064866803292627174UL], picker.Hashes.ToArray());
        Assert.Equal([80, 81, 80, 81], picker.Owners.ToArray().Select(o => picker.Endpoints[o].Port));
    }

    [Fact]
    public void Ring_MaximumRingSize_Caps()
    {
        var picker = PickerBuilder.Ring(TestEndpoints.Make(10), minRing: 1000, maxRing: 100);

        Assert.Equal(100, picker.RingSize);
    }

    [Property(MaxTest = 30)]
    public bool Ring_EntriesPerEndpoint_AreProportionalToWeight(PositiveInt count, int seed)
    {
        var n = 1 + (count.Get % 50);
        var random = new Random(seed);
        var endpoints = TestEndpoints.Make(n, _ => random.Next(1, 10));

        var picker = PickerBuilder.Ring(endpoints, minRing: 1024);

        var entries = new int[n];
        foreach (var owner in picker.Owners)
        {
            entries[owner]++;
        }

        var minWeight = picker.Endpoints.Min(e => e.Weight);
        var perWeightUnit = Math.Ceiling(1024.0 * minWeight / picker.Endpoints.Sum(e => e.Weight));
        return Enumerable.Range(0, n).All(i => Math.Abs(entries[i] - (perWeightUnit * picker.Endpoints[i].Weight / minWeight)) <= 1.0);
    }

    [Property(MaxTest = 30)]
    public bool Ring_RemovingOneEndpoint_MovesOnlyItsKeys(PositiveInt count, PositiveInt which, int seed)
    {
        var n = 2 + (count.Get % 100);
        var endpoints = TestEndpoints.Make(n);
        var removed = endpoints[which.Get % n];
        var keys = PickerBuilder.RandomKeys(5_000, seed);

        var before = PickerBuilder.Owners(PickerBuilder.Ring(endpoints, minRing: 64 * n), keys);
        var after = PickerBuilder.Owners(PickerBuilder.Ring(endpoints.Where(e => !e.Equals(removed)).ToArray(), minRing: 64 * (n - 1)), keys);

        return Enumerable.Range(0, keys.Length).All(i => before[i].Equals(removed) ? !after[i].Equals(removed) : before[i].Equals(after[i]));
    }

    [Property(MaxTest = 25)]
    public bool Ring_AnyPublishOrder_IsTheSame(PositiveInt count, int seed)
    {
        var endpoints = TestEndpoints.Make(1 + (count.Get % 100), i => 1 + (i % 4));
        var shuffled = (BackendEndpoint[])endpoints.Clone();
        new Random(seed).Shuffle(shuffled);

        // Straight into the builder, bypassing the source's canonical sort: the ring must order by hash key itself.
        var ringA = PickerBuilder.Ring(endpoints);
        var ringB = PickerBuilder.Ring(shuffled);
        return ringA.Hashes.SequenceEqual(ringB.Hashes)
            && ringA.Owners.ToArray().Select(o => ringA.Endpoints[o]).SequenceEqual(ringB.Owners.ToArray().Select(o => ringB.Endpoints[o]));
    }

    [Fact]
    public void Ring_Weighted_WalksRunningSumsInHashKeyOrder()
    {
        // Weights sum to 46 with a minimum of 2, so scale = 1035: a unit of weight is worth 22.5
        // entries and every odd weight leaves half an entry to settle. "10.3.0.10:8080" sorts before
        // "10.3.0.1:8080" as a key but after it as an address, so the two walks settle them differently.
        int[] weights = [3, 2, 4, 5, 6, 7, 8, 2, 4, 5];
        var endpoints = Enumerable.Range(0, 10).Select(i => new BackendEndpoint($"10.3.0.{i + 1}", 8080, weights[i])).ToArray();

        var picker = PickerBuilder.Ring(endpoints, minRing: 1024);

        Assert.Equal(EntryCountsInKeyOrder(endpoints, minRing: 1024), EntryCounts(picker));
    }

    [Fact]
    public void Ring_UnweightedWithRoundingResidue_GivesTheExtraEntryToTheFirstKey()
    {
        // Equal weights are not always equal shares: at 75 endpoints and ring 1,024, scale × w is
        // 14 plus a rounding residue in doubles, so the first endpoint walked gets a 15th entry.
        // Pods whose addresses run opposite to their keys tell the two walks apart.
        var endpoints = Enumerable.Range(0, 75).Select(i => Pod(TestEndpoints.Address(74 - i), i, weight: 1)).ToArray();

        var picker = PickerBuilder.Ring(endpoints, minRing: 1024);

        var entries = EntryCounts(picker);
        Assert.Equal(EntryCountsInKeyOrder(endpoints, minRing: 1024), entries);
        Assert.Equal(15, entries["web-0"]);
    }

    [Property(MaxTest = 200)]
    public bool Ring_WeightedEndpointChangesAddressKeepingItsKey_NoEntryChanges(PositiveInt count, PositiveInt which, int seed)
    {
        var random = new Random(seed);
        var n = 2 + (count.Get % 40);
        var addresses = DistinctAddresses(random, n + 1);
        var weights = Enumerable.Range(0, n).Select(_ => random.Next(1, 10)).ToArray();
        var before = Enumerable.Range(0, n).Select(i => Pod(addresses[i], i, weights[i])).ToArray();
        var moved = which.Get % n;
        var after = (BackendEndpoint[])before.Clone();
        after[moved] = Pod(addresses[n], moved, weights[moved]);

        return Entries(PickerBuilder.Ring(before)).SequenceEqual(Entries(PickerBuilder.Ring(after)));
    }

    [Property(MaxTest = 100)]
    public bool Ring_WeightedAnyPublishOrderAndAddressesKeepingKeys_IsTheSame(PositiveInt count, int seed)
    {
        var random = new Random(seed);
        var n = 1 + (count.Get % 60);
        var weights = Enumerable.Range(0, n).Select(_ => random.Next(1, 10)).ToArray();
        var options = TestEndpoints.Options(LoadBalancingAlgorithm.RingHash);

        BackendEndpoint[] Assignment()
        {
            var addresses = DistinctAddresses(random, n);
            var endpoints = Enumerable.Range(0, n).Select(i => Pod(addresses[i], i, weights[i])).ToArray();
            random.Shuffle(endpoints);
            return endpoints;
        }

        using var a = TestEndpoints.Balancer(Assignment(), options);
        using var b = TestEndpoints.Balancer(Assignment(), options);

        return Entries((RingHashPicker)a.CurrentPicker).SequenceEqual(Entries((RingHashPicker)b.CurrentPicker));
    }

    /// <summary>The ring as (entry hash, owner's hash key): what survives a change of address.</summary>
    private static (ulong Hash, string Key)[] Entries(RingHashPicker picker)
    {
        var owners = picker.Owners;
        var hashes = picker.Hashes;
        var entries = new (ulong, string)[hashes.Length];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = (hashes[i], picker.Endpoints[owners[i]].HashKey);
        }

        return entries;
    }

    private static Dictionary<string, int> EntryCounts(RingHashPicker picker) =>
        picker.Owners.ToArray().GroupBy(o => picker.Endpoints[o].HashKey).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>A StatefulSet-like pod: its key is its name, whatever address it runs on.</summary>
    private static BackendEndpoint Pod(string address, int ordinal, int weight) =>
        new(address, 8080, weight, hashKey: string.Create(System.Globalization.CultureInfo.InvariantCulture, $"web-{ordinal}"));

    private static string[] DistinctAddresses(Random random, int count)
    {
        var picked = new HashSet<int>();
        while (picked.Count < count)
        {
            picked.Add(random.Next(1 << 16));
        }

        return picked.Select(i => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"10.{i >> 8}.{i & 0xFF}.{random.Next(1, 255)}")).ToArray();
    }

    /// <summary>Envoy's running sums, walked in ordinal order of the UTF-8 hash keys.</summary>
    private static Dictionary<string, int> EntryCountsInKeyOrder(BackendEndpoint[] endpoints, int minRing)
    {
        var ordered = endpoints.OrderBy(e => System.Text.Encoding.UTF8.GetBytes(e.HashKey), Comparer<byte[]>.Create((x, y) => x.AsSpan().SequenceCompareTo(y))).ToArray();
        double sum = ordered.Sum(e => e.Weight);
        var minWeight = ordered.Min(e => e.Weight * 1.0 / sum);
        var scale = Math.Min(Math.Ceiling(minWeight * minRing) / minWeight, RingHashOptions.MaxRingSizeLimit);
        var counts = new Dictionary<string, int>();
        double current = 0, target = 0;
        foreach (var e in ordered)
        {
            target += scale * (e.Weight * 1.0 / sum);
            var c = 0;
            for (; current < target; current++)
            {
                c++;
            }

            counts[e.HashKey] = c;
        }

        return counts;
    }
}
