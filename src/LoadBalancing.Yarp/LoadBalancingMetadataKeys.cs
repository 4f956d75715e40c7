namespace LoadBalancing.Yarp;

/// <summary>The YARP configuration metadata keys the policies read.</summary>
public static class LoadBalancingMetadataKeys
{
    /// <summary>
    /// Cluster metadata: where a hash policy takes each request's key from. One of <c>header:NAME</c>,
    /// <c>cookie:NAME</c>, <c>query:NAME</c>, <c>route:NAME</c> (a route value), <c>path</c> or <c>client-ip</c>.
    /// Required by <see cref="LoadBalancingPolicyNames.Maglev"/> and <see cref="LoadBalancingPolicyNames.RingHash"/>;
    /// a request without the key is placed at random. Checked when the configuration loads.
    /// </summary>
    public const string HashKey = "LoadBalancing.HashKey";

    /// <summary>
    /// Destination metadata: the destination's relative weight, a whole number from 1 to 1,000,000 (default 1).
    /// Checked when the configuration loads.
    /// </summary>
    public const string Weight = "LoadBalancing.Weight";
}
