using System.Globalization;
using LoadBalancing.Algorithms;

namespace LoadBalancing.Benchmarks;

/// <summary>
/// The quality figures Envoy's hash load-balancer benchmarks report, for our maglev (two table
/// sizes) and ring hash: spread of hits over random keys, keys moved when endpoints are lost
/// (against the optimum k/N), and keys moved when a share of endpoints changes weight.
/// </summary>
public static class HashQuality
{
    private const int Endpoints = 500;
    private const int Keys = 100_000;

    private static readonly (string Name, Func<BackendEndpoint[], Func<ulong, int>> Build)[] Tables =
    [
        ("maglev M=65537", e => Maglev(e, 65537)),
        ("maglev M=655373", e => Maglev(e, 655373)),
        ("ring min=1024", e => Ring(e, 1024)),
        ("ring 1024/endpoint", e => Ring(e, 1024 * e.Length)),
    ];

    public static void Print(TextWriter output)
    {
        var keys = Clusters.Keys(Keys, 42);
        var endpoints = Clusters.Endpoints(Endpoints);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Hash quality: {Endpoints} endpoints, {Keys:N0} random keys."));
        output.WriteLine();
        output.WriteLine("| table | RSD of hits | moved, 1 lost (opt 0.20%) | 2 lost (opt 0.40%) | 3 lost (opt 0.60%) | moved, 5% reweighted | 50% reweighted | 95% reweighted | bytes |");
        output.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var (name, build) in Tables)
        {
            var baseline = build(endpoints);
            var owners = keys.Select(k => endpoints[baseline(k)]).ToArray();
            var row = new List<string> { name, Percent(RelativeStdDev(owners, endpoints)) };
            foreach (var lost in new[] { 1, 2, 3 })
            {
                var gone = new[] { 7, 207, 407 }.Take(lost).ToHashSet();
                var kept = endpoints.Where((_, i) => !gone.Contains(i)).ToArray();
                row.Add(Percent(Moved(owners, keys, kept, build(kept))));
            }

            foreach (var share in new[] { 0.05, 0.50, 0.95 })
            {
                // Double the weight of the first share of endpoints (spread through the set).
                var changed = endpoints.Select((e, i) => (i * 7919 % Endpoints) < share * Endpoints ? e.WithWeight(2) : e).ToArray();
                row.Add(Percent(Moved(owners, keys, changed, build(changed))));
            }

            row.Add(Bytes(name, endpoints).ToString("N0", CultureInfo.InvariantCulture));
            output.WriteLine("| " + string.Join(" | ", row) + " |");
        }
    }

    private static Func<ulong, int> Maglev(BackendEndpoint[] endpoints, int size)
    {
        var table = MaglevPicker.Build(endpoints, endpoints.Select(e => (double)e.Weight).ToArray(), size);
        return k => table[(int)(k % (ulong)size)];
    }

    private static Func<ulong, int> Ring(BackendEndpoint[] endpoints, int minRing)
    {
        var (hashes, owners) = RingHashPicker.Build(endpoints, endpoints.Select(e => (double)e.Weight).ToArray(), new RingHashOptions { MinimumRingSize = minRing });
        return k =>
        {
            var i = Array.BinarySearch(hashes, k);
            i = i < 0 ? ~i : i;
            return owners[i == hashes.Length ? 0 : i];
        };
    }

    private static double RelativeStdDev(BackendEndpoint[] owners, BackendEndpoint[] endpoints)
    {
        var hits = owners.GroupBy(e => e).ToDictionary(g => g.Key, g => (double)g.Count());
        var counts = endpoints.Select(e => hits.GetValueOrDefault(e)).ToArray();
        var mean = counts.Average();
        return Math.Sqrt(counts.Average(c => (c - mean) * (c - mean))) / mean;
    }

    private static double Moved(BackendEndpoint[] before, ulong[] keys, BackendEndpoint[] endpoints, Func<ulong, int> table)
    {
        var moved = 0;
        for (var i = 0; i < keys.Length; i++)
        {
            moved += before[i].Equals(endpoints[table(keys[i])]) ? 0 : 1;
        }

        return (double)moved / keys.Length;
    }

    private static long Bytes(string name, BackendEndpoint[] endpoints) => name switch
    {
        "maglev M=65537" => 65537 * 2,
        "maglev M=655373" => 655373 * 2,
        "ring min=1024" => RingSize(endpoints, 1024) * 12L,
        _ => RingSize(endpoints, 1024 * endpoints.Length) * 12L,
    };

    private static int RingSize(BackendEndpoint[] endpoints, int minRing) =>
        RingHashPicker.Build(endpoints, endpoints.Select(e => (double)e.Weight).ToArray(), new RingHashOptions { MinimumRingSize = minRing }).Hashes.Length;

    private static string Percent(double value) => (value * 100).ToString("0.00", CultureInfo.InvariantCulture) + "%";
}
