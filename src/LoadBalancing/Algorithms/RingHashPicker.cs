using System.Buffers;
using System.IO.Hashing;

namespace LoadBalancing.Algorithms;

/// <summary>
/// Ketama consistent-hash ring, built the way Envoy builds it so both place every key on the same
/// endpoint: entry hashes are <c>xxHash64("&lt;hash key&gt;_&lt;i&gt;")</c>, an endpoint gets entries in
/// proportion to its normalised weight (running sums over the endpoints in hash-key order), the
/// ring size is clamped between the minimum and maximum; a key goes to the first entry at or after
/// it, wrapping to the start.
/// </summary>
internal sealed class RingHashPicker : HashPicker
{
    private readonly ulong[] _hashes;
    private readonly int[] _owners;
    private readonly int[] _index;
    private readonly int _shift;

    public RingHashPicker(in PickerInput input)
        : base(input)
    {
        (_hashes, _owners) = Build(input.Endpoints, input.Weights, input.Options.RingHash);
        _index = BuildIndex(_hashes, out _shift);
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

        // The index narrows the search to the entries sharing the key's top bits: a handful,
        // usually in one or two cache lines, instead of ~20 steps across a large ring.
        var bucket = (int)(hash >> _shift);
        int lo = _index[bucket], hi = _index[bucket + 1];
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

    /// <summary>
    /// For each value of the top bits, the first ring entry at or above it: about two entries per
    /// bucket, at most 2^16 buckets (256 KiB).
    /// </summary>
    private static int[] BuildIndex(ulong[] hashes, out int shift)
    {
        var bits = Math.Clamp(64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)Math.Max(1, hashes.Length / 2)), 1, 16);
        shift = 64 - bits;
        var buckets = 1 << bits;
        var index = new int[buckets + 1];
        var entry = 0;
        for (var b = 0; b <= buckets; b++)
        {
            var floor = b == buckets ? ulong.MaxValue : (ulong)b << shift;
            while (entry < hashes.Length && hashes[entry] < floor)
            {
                entry++;
            }

            index[b] = b == buckets ? hashes.Length : entry;
        }

        return index;
    }

    internal static (ulong[] Hashes, int[] Owners) Build(BackendEndpoint[] endpoints, double[] weights, RingHashOptions options)
    {
        if (endpoints.Length == 0)
        {
            return ([], []);
        }

        var normalized = Normalize(weights, out var minWeight, out _);

        // Where the running sum crosses a whole number decides who gets a fractional entry, so the walk
        // order is part of the ring. Hash-key order is the one every builder agrees on without
        // coordination, and an endpoint whose address changes under the same key moves no entry.
        var order = HashKeyOrder(endpoints);

        // The same arithmetic as Envoy's, in doubles, so the entry counts match to the last one.
        var scale = Math.Min(Math.Ceiling(minWeight * options.MinimumRingSize) / minWeight, options.MaximumRingSize);
        // Count first (the same running sums, no hashing) so the ring is allocated once, exactly.
        var count = 0;
        double current = 0;
        double target = 0;
        foreach (var host in order)
        {
            target += scale * normalized[host];
            while (current < target)
            {
                count++;
                current++;
            }
        }

        var hashArray = new ulong[count];
        var ownerArray = new int[count];
        var longest = 0;
        foreach (var e in endpoints)
        {
            longest = Math.Max(longest, e.HashKeyUtf8.Length);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(longest + 24);
        try
        {
            var next = 0;
            current = 0;
            target = 0;
            foreach (var host in order)
            {
                var key = endpoints[host].HashKeyUtf8;
                key.CopyTo(buffer);
                buffer[key.Length] = (byte)'_';
                var suffix = buffer.AsSpan(key.Length + 1);
                target += scale * normalized[host];
                for (long i = 0; current < target; i++, current++)
                {
                    i.TryFormat(suffix, out var digits, default, System.Globalization.CultureInfo.InvariantCulture);
                    hashArray[next] = XxHash64.HashToUInt64(buffer.AsSpan(0, key.Length + 1 + digits));
                    ownerArray[next++] = host;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        Array.Sort(hashArray, ownerArray);
        return (hashArray, ownerArray);
    }
}
