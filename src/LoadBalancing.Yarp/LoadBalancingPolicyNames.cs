namespace LoadBalancing.Yarp;

/// <summary>
/// The names to set as a YARP cluster's <c>LoadBalancingPolicy</c> to balance it with this library's algorithms.
/// Each is prefixed with <c>LoadBalancing.</c> so none clashes with YARP's built-in policies
/// (<c>PowerOfTwoChoices</c>, <c>FirstAlphabetical</c>, <c>Random</c>, <c>RoundRobin</c>, <c>LeastRequests</c>).
/// </summary>
public static class LoadBalancingPolicyNames
{
    /// <summary>
    /// Maglev consistent hashing (tables identical to Envoy's); needs the cluster metadata
    /// <see cref="LoadBalancingMetadataKeys.HashKey"/>.
    /// </summary>
    public const string Maglev = "LoadBalancing.Maglev";

    /// <summary>
    /// Ring-hash (ketama) consistent hashing (rings identical to Envoy's); needs the cluster metadata
    /// <see cref="LoadBalancingMetadataKeys.HashKey"/>.
    /// </summary>
    public const string RingHash = "LoadBalancing.RingHash";

    /// <summary>
    /// Peak-EWMA: of two random destinations, the one with the lower latency estimate × (in flight + 1) / weight.
    /// Learns from each request's outcome, so it needs <c>UseLoadBalancingFeedback()</c> in the proxy pipeline.
    /// </summary>
    public const string PeakEwma = "LoadBalancing.PeakEwma";

    /// <summary>
    /// Least-request: of two random destinations (drawn by weight), the one with fewer requests in flight.
    /// Counts requests in flight through <c>UseLoadBalancingFeedback()</c>.
    /// </summary>
    public const string LeastRequest = "LoadBalancing.LeastRequest";

    /// <summary>Smooth weighted round-robin (nginx's): weights 5, 1, 1 give <c>a a b a c a a</c>.</summary>
    public const string RoundRobin = "LoadBalancing.RoundRobin";

    /// <summary>Weighted random.</summary>
    public const string Random = "LoadBalancing.Random";
}
