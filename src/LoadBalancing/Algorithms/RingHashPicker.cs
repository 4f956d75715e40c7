using System.Buffers;
using System.IO.Hashing;

namespace LoadBalancing.Algorithms;

/// <summary>
/// Ketama consistent-hash ring, built the way Envoy builds it so both place every key on the same
/// endpoint: entry hashes are <c>xxHash64("&lt;hash key&gt;_&lt;i&gt;")</c>, an endpoint gets entries in
/// proportion to its normalised weight (running sums over the endpoints in canonical order), the
/// ring size is clamped between the minimum and maximum; a key goes to the first entry at or after
/// it, wrapping to the start.
/// </summary>
internal sealed class RingHashPicker : HashPicker
{
    private readonly ulong[] _hashes;
    private readonly int[] _owners;

    public RingHashPicker(in PickerInput input)
        : base(input)
    {
        (_hashes, _owners) = Build(input.Endpoints, input.Weights, input.Options.RingHash);
    }

    public int RingSize => _hashes.Length;

    internal ReadOnlySpan<ulong> Hashes => _hashes;

    internal ReadOnlySpan<int> Owners => _owners;

    public override int Lookup(ulong hash)
    {
        var hashes = _hashes;
        if (hashes.Length == 0)
        {
            return -1;
        }

        // Lower bound: the first entry whose hash is at least the key.
        int lo = 0, hi = hashes.Length;
        while (lo < hi)
        {
            var mid = (int)((uint)(lo + hi) >> 1);
            if (hashes[mid] < hash)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return _owners[lo == hashes.Length ? 0 : lo];
    }

    internal static (ulong[] Hashes, int[] Owners) Build(Endpoint[] endpoints, double[] weights, RingHashOptions options)
    {
        if (endpoints.Length == 0)
        {
            return ([], []);
        }

        var normalized = Normalize(weights, out var minWeight, out _);

        // The same arithmetic as Envoy's, in doubles, so the entry counts match to the last one.
        var scale = Math.Min(Math.Ceiling(minWeight * options.MinimumRingSize) / minWeight, options.MaximumRingSize);
        var capacity = (int)Math.Min(Math.Ceiling(scale) + endpoints.Length, RingHashOptions.MaxRingSizeLimit + endpoints.Length);
        var hashes = new List<ulong>(capacity);
        var owners = new List<int>(capacity);

        double current = 0;
        double target = 0;
        var longest = 0;
        foreach (var e in endpoints)
        {
            longest = Math.Max(longest, e.HashKeyUtf8.Length);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(longest + 24);
        try
        {
            for (var host = 0; host < endpoints.Length; host++)
            {
                var key = endpoints[host].HashKeyUtf8;
                key.CopyTo(buffer);
                buffer[key.Length] = (byte)'_';
                var suffix = buffer.AsSpan(key.Length + 1);
                target += scale * normalized[host];
                for (long i = 0; current < target; i++, current++)
                {
                    i.TryFormat(suffix, out var digits, default, System.Globalization.CultureInfo.InvariantCulture);
                    hashes.Add(XxHash64.HashToUInt64(buffer.AsSpan(0, key.Length + 1 + digits)));
                    owners.Add(host);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var hashArray = hashes.ToArray();
        var ownerArray = owners.ToArray();
        Array.Sort(hashArray, ownerArray);
        return (hashArray, ownerArray);
    }
}
