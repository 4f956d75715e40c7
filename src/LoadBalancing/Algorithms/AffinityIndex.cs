namespace LoadBalancing.Algorithms;

/// <summary>
/// A snapshot's endpoints by <see cref="BackendEndpoint.AffinityKey"/>: the keys sorted, with each one's index in the
/// snapshot, so a look-up is a binary search over one array and allocates nothing.
/// </summary>
internal sealed class AffinityIndex
{
    private readonly ulong[] _keys;
    private readonly int[] _indices;

    private AffinityIndex(ulong[] keys, int[] indices)
    {
        _keys = keys;
        _indices = indices;
    }

    public static AffinityIndex Build(BackendEndpoint[] endpoints)
    {
        var keys = new ulong[endpoints.Length];
        var indices = new int[endpoints.Length];
        for (var i = 0; i < endpoints.Length; i++)
        {
            keys[i] = endpoints[i].AffinityKey;
            indices[i] = i;
        }

        Array.Sort(keys, indices);
        return new AffinityIndex(keys, indices);
    }

    /// <summary>The endpoint's index, or -1. Two endpoints sharing a key (a 64-bit collision) resolve to one of them.</summary>
    public int IndexOf(ulong key)
    {
        var at = Array.BinarySearch(_keys, key);
        return at >= 0 ? _indices[at] : -1;
    }
}
