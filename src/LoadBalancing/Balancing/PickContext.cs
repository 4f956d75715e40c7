namespace LoadBalancing;

/// <summary>What a pick may use: for hash-based algorithms, the request's 64-bit key.</summary>
public readonly struct PickContext
{
    private PickContext(ulong hash)
    {
        Hash = hash;
        HasHash = true;
    }

    /// <summary>A context without a key: hash-based algorithms pick at random, as Envoy does.</summary>
    public static PickContext None => default;

    /// <summary>The request key (see <see cref="RequestKey"/>); meaningful only when <see cref="HasHash"/>.</summary>
    public ulong Hash { get; }

    /// <summary>Whether the request has a key.</summary>
    public bool HasHash { get; }

    /// <summary>A context carrying a precomputed 64-bit request key.</summary>
    /// <param name="hash">The key.</param>
    /// <returns>The context.</returns>
    public static PickContext ForHash(ulong hash) => new(hash);
}
