using FsCheck;
using FsCheck.Xunit;
using LoadBalancing.Algorithms;
using LoadBalancing.Tests.Support;

namespace LoadBalancing.Tests.Algorithms;

public sealed class MaglevPickerTests
{
    // Envoy's published expectations (test/extensions/load_balancing_policies/maglev/maglev_lb_test.cc):
    // the host index owning each slot, keyed by hash i → slot i mod M.
    [Fact]
    public void Table_EnvoyBasic_IsIdenticalToEnvoys()
    {
        var hosts = TestEndpoints.EnvoyHosts(90, 6);

        var picker = PickerBuilder.Maglev(hosts, tableSize: 7);

        AssertAssignments(picker, hosts, [2, 4, 0, 1, 5, 0, 3]);
    }

    [Fact]
    public void Table_EnvoyHostnameKeys_IsIdenticalToEnvoys()
    {
        var hosts = TestEndpoints.EnvoyHosts(90, 6, hostnameKeys: true);

        var picker = PickerBuilder.Maglev(hosts, tableSize: 7);

        AssertAssignments(picker, hosts, [2, 5, 0, 3, 4, 1, 0]);
    }

    [Fact]
    public void Table_EnvoyWeighted_IsIdenticalToEnvoys()
    {
        var hosts = TestEndpoints.EnvoyHosts(90, 2, weight: i => i + 1);

        var picker = PickerBuilder.Maglev(hosts, tableSize: 17);

        AssertAssignments(picker, hosts, [1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1]);
        Assert.Equal(6, picker.Table.Count(i => picker.Endpoints[i].Port == 90));
        Assert.Equal(11, picker.Table.Count(i => picker.Endpoints[i].Port == 91));
    }

    [Fact]
    public void Table_SingleHost_OwnsEverySlot()
    {
        var hosts = TestEndpoints.EnvoyHosts(90, 1, weight: _ => 7);

        var picker = PickerBuilder.Maglev(hosts, tableSize: 17);

        Assert.All(picker.Table, i => Assert.Equal(0, i));
    }

    [Property(MaxTest = 40)]
    public bool Table_Unweighted_EveryEndpointOwnsFloorOrCeilOfMOverN(PositiveInt count)
    {
        var n = 1 + (count.Get % 300);
        const int m = 65537;

        var table = PickerBuilder.Maglev(TestEndpoints.Make(n), m).Table;

        var owned = new int[n];
        foreach (var i in table)
        {
            owned[i]++;
        }

        return owned.All(c => c == m / n || c == (m + n - 1) / n);
    }

    [Property(MaxTest = 25)]
    public bool Table_Weighted_EachShareWithinOnePercentOfItsWeightShare(PositiveInt count, int seed)
    {
        var n = 1 + (count.Get % 1000);
        var random = new Random(seed);
        var weights = Enumerable.Range(0, n).Select(_ => random.Next(1, 101)).ToArray();
        const int m = 65537;

        var picker = PickerBuilder.Maglev(TestEndpoints.Make(n, i => weights[i]), m);

        var owned = new double[n];
        foreach (var i in picker.Table)
        {
            owned[i]++;
        }

        var sum = (double)weights.Sum();
        var worst = Enumerable.Range(0, n).Max(i => Math.Abs((owned[i] / m) - (picker.Endpoints[i].Weight / sum)));
        return worst <= 0.01;
    }

    [Property(MaxTest = 25)]
    public bool Table_AnyInputOrder_IsTheSame(PositiveInt count, int seed)
    {
        var endpoints = TestEndpoints.Make(1 + (count.Get % 200), i => 1 + (i % 5));
        var shuffled = (BackendEndpoint[])endpoints.Clone();
        new Random(seed).Shuffle(shuffled);

        // Straight into the builder, bypassing the source's canonical sort: maglev orders by hash key itself.
        var a = MaglevPicker.Build(endpoints, endpoints.Select(e => (double)e.Weight).ToArray(), 4099).Select(i => endpoints[i]);
        var b = MaglevPicker.Build(shuffled, shuffled.Select(e => (double)e.Weight).ToArray(), 4099).Select(i => shuffled[i]);
        return a.SequenceEqual(b);
    }

    [Fact]
    public void Table_SameSet_IsTheSameInEveryProcess()
    {
        // A fingerprint taken once and frozen: no per-process hash seed or ordering leaks into the table.
        var endpoints = TestEndpoints.Make(100, i => 1 + (i % 3));

        var table = PickerBuilder.Maglev(endpoints).Table;

        var fingerprint = System.IO.Hashing.XxHash64.HashToUInt64(System.Runtime.InteropServices.MemoryMarshal.AsBytes(table.AsSpan()));
        Assert.Equal(GoldenFingerprint, fingerprint);
    }

    private static readonly int[] LookupSizes = [7, 17, 251, 65537, 655373, MaglevOptions.MaxTableSize];
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, MaglevPicker> LookupPickers = new();

    private const ulong GoldenFingerprint = 2128698616982538089;

    [Property(MaxTest = 20)]
    public bool Table_RemovingEndpoints_RemapsABoundedShareOfOtherKeys(PositiveInt count, PositiveInt removedCount, int seed)
    {
        // Maglev trades some stability for balance: keys of surviving endpoints may move. The paper
        // and Envoy's benchmarks put this at a few percent for k ≪ N; assert under 3 × k/N + 1 %.
        var n = 20 + (count.Get % 480);
        var k = 1 + (removedCount.Get % Math.Max(1, n / 20));
        var endpoints = TestEndpoints.Make(n);
        var removed = endpoints.OrderBy(_ => Guid.NewGuid()).Take(k).ToHashSet();
        var keys = PickerBuilder.RandomKeys(20_000, seed);

        var before = PickerBuilder.Owners(PickerBuilder.Maglev(endpoints), keys);
        var after = PickerBuilder.Owners(PickerBuilder.Maglev(endpoints.Where(e => !removed.Contains(e)).ToArray()), keys);

        var survivorsKeys = Enumerable.Range(0, keys.Length).Where(i => !removed.Contains(before[i])).ToArray();
        var moved = survivorsKeys.Count(i => !before[i].Equals(after[i]));
        return moved <= survivorsKeys.Length * ((3.0 * k / n) + 0.01);
    }

    [Property(MaxTest = 200)]
    public bool Lookup_AnyHash_IsTheSlotAtHashModM(ulong hash, PositiveInt sizeChoice)
    {
        var size = LookupSizes[sizeChoice.Get % LookupSizes.Length];
        var picker = LookupPickers.GetOrAdd(size, s => PickerBuilder.Maglev(TestEndpoints.Make(3), s));

        return picker.Lookup(hash) == picker.Table[(int)(hash % (ulong)size)]
            && picker.Lookup(ulong.MaxValue - hash) == picker.Table[(int)((ulong.MaxValue - hash) % (ulong)size)];
    }

    [Property(MaxTest = 30)]
    public bool Table_IsTheOnePlainProbingBuilds(PositiveInt count, PositiveInt sizeChoice, int seed)
    {
        // The builder finds the last free slots directly instead of probing; the table must not change.
        int[] sizes = [7, 17, 251, 4099, 65537];
        var size = sizes[sizeChoice.Get % sizes.Length];
        var random = new Random(seed);
        var endpoints = TestEndpoints.Make(1 + (count.Get % 300), _ => random.Next(1, 4));
        var weights = endpoints.Select(e => (double)e.Weight).ToArray();

        return MaglevPicker.Build(endpoints, weights, size).SequenceEqual(PlainProbing(endpoints, weights, size));
    }

    [Fact]
    public void Table_MoreEndpointsThanA16BitIndexHolds_IsStoredWide()
    {
        // 70,000 endpoints do not fit 16-bit slots: the builder switches to int storage, and every
        // endpoint still owns M/N slots or one more.
        const int n = 70_000;
        const int m = 655_373;
        var endpoints = Enumerable.Range(0, n).Select(i => new BackendEndpoint($"10.{i >> 16}.{(i >> 8) & 0xFF}.{i & 0xFF}", 8080)).ToArray();

        var table = MaglevPicker.BuildTable(endpoints, endpoints.Select(_ => 1.0).ToArray(), m);

        var wide = Assert.IsType<int[]>(table);
        var owned = new int[n];
        foreach (var i in wide)
        {
            owned[i]++;
        }

        Assert.All(owned, c => Assert.InRange(c, m / n, (m / n) + 1));
    }

    [Theory]
    [InlineData(256, typeof(byte[]))]
    [InlineData(257, typeof(ushort[]))]
    public void Table_IsStoredInTheNarrowestIntegerThatHoldsEveryIndex(int n, Type storage)
    {
        // The last index (255 for 256 endpoints) must survive the narrowing: every endpoint still
        // owns M/N slots or one more, which a truncated index would break.
        const int m = 65537;
        var endpoints = Enumerable.Range(0, n).Select(i => new BackendEndpoint($"10.1.{i >> 8}.{i & 0xFF}", 8080)).ToArray();

        var table = MaglevPicker.BuildTable(endpoints, endpoints.Select(_ => 1.0).ToArray(), m);

        Assert.IsType(storage, table);
        var owned = new int[n];
        foreach (var i in MaglevPicker.Build(endpoints, endpoints.Select(_ => 1.0).ToArray(), m))
        {
            owned[i]++;
        }

        Assert.All(owned, c => Assert.InRange(c, m / n, (m / n) + 1));
    }

    [Property(MaxTest = 200)]
    public bool InverseModPrime_TimesTheNumber_IsOne(PositiveInt value, PositiveInt sizeChoice)
    {
        int[] primes = [7, 65537, 655373, MaglevOptions.MaxTableSize];
        var p = (uint)primes[sizeChoice.Get % primes.Length];
        var a = 1 + ((uint)value.Get % (p - 1));

        return (ulong)a * MaglevPicker.InverseModPrime(a, p) % p == 1;
    }

    /// <summary>Listing 1 of the Maglev paper with Envoy's weighting and key order, probing every step.</summary>
    private static int[] PlainProbing(BackendEndpoint[] endpoints, double[] weights, int size)
    {
        var keys = endpoints.Select(e => e.HashKeyUtf8.ToArray()).ToArray();
        var order = Enumerable.Range(0, endpoints.Length)
            .OrderBy(i => keys[i], Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b)))
            .ToArray();
        var sum = weights.Sum();
        var max = weights.Max() / sum;
        var m = (ulong)size;
        var offset = order.Select(i => System.IO.Hashing.XxHash64.HashToUInt64(keys[i]) % m).ToArray();
        var skip = order.Select(i => (System.IO.Hashing.XxHash64.HashToUInt64(keys[i], 1) % (m - 1)) + 1).ToArray();
        var next = new ulong[order.Length];
        var target = new double[order.Length];
        var table = Enumerable.Repeat(-1, size).ToArray();
        var filled = 0;
        for (var iteration = 1; filled < size; iteration++)
        {
            for (var k = 0; k < order.Length && filled < size; k++)
            {
                if (iteration * (weights[order[k]] / sum) < target[k])
                {
                    continue;
                }

                target[k] += max;
                var c = (offset[k] + (next[k] * skip[k])) % m;
                while (table[c] >= 0)
                {
                    next[k]++;
                    c = (offset[k] + (next[k] * skip[k])) % m;
                }

                table[c] = order[k];
                next[k]++;
                filled++;
            }
        }

        return table;
    }

    private static void AssertAssignments(MaglevPicker picker, BackendEndpoint[] hosts, int[] expected)
    {
        for (ulong hash = 0; hash < (ulong)expected.Length * 3; hash++)
        {
            Assert.Equal(hosts[expected[hash % (ulong)expected.Length]], picker.Endpoints[picker.Lookup(hash)]);
        }
    }
}
