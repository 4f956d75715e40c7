using Grpc.Net.Client.Balancer;

namespace LoadBalancing.Grpc;

/// <summary>
/// Attributes of a <see cref="BalancerAddress"/> that this package's resolvers set and its load balancers read.
/// Another resolver may set them too.
/// </summary>
public static class LoadBalancingAttributes
{
    /// <summary>The endpoint's weight (1 to <see cref="BackendEndpoint.MaxWeight"/>); 1 when absent.</summary>
    public static readonly BalancerAttributesKey<int> Weight = new("LoadBalancing.Weight");

    /// <summary>The endpoint's key on a maglev table or hash ring; the address (<c>host:port</c>) when absent.</summary>
    public static readonly BalancerAttributesKey<string> HashKey = new("LoadBalancing.HashKey");
}
