namespace LoadBalancing.Grpc;

/// <summary>
/// The gRPC load-balancing policy names this package registers (snake_case, as gRPC names policies). None clashes
/// with grpc-dotnet's own <c>pick_first</c> and <c>round_robin</c>.
/// </summary>
public static class LoadBalancingPolicies
{
    /// <summary>Peak-EWMA: the endpoint with the lower latency estimate × (in-flight + 1) of two drawn at random.</summary>
    public const string PeakEwma = "peak_ewma";

    /// <summary>Least-request: the endpoint with fewer calls in flight of two (or <c>choiceCount</c>) drawn at random.</summary>
    public const string LeastRequest = "least_request";

    /// <summary>Maglev consistent hashing on a request header (Envoy-compatible table).</summary>
    public const string Maglev = "maglev";

    /// <summary>Ring-hash consistent hashing on a request header (Envoy-compatible ring).</summary>
    public const string RingHash = "ring_hash";
}
