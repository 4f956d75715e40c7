namespace LoadBalancing;

/// <summary>The balancing algorithms.</summary>
public enum LoadBalancingAlgorithm
{
    /// <summary>Smooth weighted round-robin (nginx's), lock-free.</summary>
    RoundRobin,

    /// <summary>Weighted random.</summary>
    Random,

    /// <summary>Least outstanding requests over the power of two (or more) distinct random choices.</summary>
    LeastRequest,

    /// <summary>Peak-EWMA latency times outstanding requests, over two distinct random choices (Finagle, Linkerd).</summary>
    PeakEwma,

    /// <summary>Ketama consistent-hash ring, table-compatible with Envoy's ring hash.</summary>
    RingHash,

    /// <summary>Maglev consistent hashing, table-compatible with Envoy's maglev.</summary>
    Maglev,
}
