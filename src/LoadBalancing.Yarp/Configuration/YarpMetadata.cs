using System.Globalization;
using Yarp.ReverseProxy.Configuration;

namespace LoadBalancing.Yarp.Configuration;

/// <summary>Reads and checks the metadata the policies use; every message names the cluster, the key and the value.</summary>
internal static class YarpMetadata
{
    public static bool IsHashPolicy(string? policy) =>
        string.Equals(policy, LoadBalancingPolicyNames.Maglev, StringComparison.OrdinalIgnoreCase)
        || string.Equals(policy, LoadBalancingPolicyNames.RingHash, StringComparison.OrdinalIgnoreCase);

    /// <summary>The cluster's hash key selector; <see cref="HashKeySelector.None"/> when the metadata is absent.</summary>
    public static bool TryGetHashKey(ClusterConfig cluster, out HashKeySelector selector, out string? error)
    {
        if (cluster.Metadata is null || !cluster.Metadata.TryGetValue(LoadBalancingMetadataKeys.HashKey, out var value))
        {
            selector = HashKeySelector.None;
            error = null;
            return true;
        }

        return HashKeySelector.TryParse(cluster.ClusterId, value ?? "", out selector, out error);
    }

    /// <summary>The destination's weight, 1 when the metadata is absent.</summary>
    public static bool TryGetWeight(string clusterId, string destinationId, DestinationConfig destination, out int weight, out string? error)
    {
        weight = 1;
        error = null;
        if (destination.Metadata is null || !destination.Metadata.TryGetValue(LoadBalancingMetadataKeys.Weight, out var value))
        {
            return true;
        }

        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out weight) && weight is >= 1 and <= BackendEndpoint.MaxWeight)
        {
            return true;
        }

        weight = 1;
        error = $"Cluster '{clusterId}', destination '{destinationId}': metadata '{LoadBalancingMetadataKeys.Weight}' is '{value}'; it must be a whole number from 1 to {BackendEndpoint.MaxWeight}.";
        return false;
    }

    /// <summary>Every problem of one cluster's metadata for the policies.</summary>
    public static void Validate(ClusterConfig cluster, IList<Exception> errors)
    {
        if (!TryGetHashKey(cluster, out var selector, out var error))
        {
            errors.Add(new ArgumentException(error));
        }
        else if (selector.Source == HashKeySource.None && IsHashPolicy(cluster.LoadBalancingPolicy))
        {
            errors.Add(new ArgumentException(
                $"Cluster '{cluster.ClusterId}': the load balancing policy '{cluster.LoadBalancingPolicy}' needs the metadata '{LoadBalancingMetadataKeys.HashKey}' ({HashKeySelector.Forms}); without it every request would be placed at random."));
        }

        if (cluster.Destinations is null)
        {
            return;
        }

        foreach (var (id, destination) in cluster.Destinations)
        {
            if (destination is not null && !TryGetWeight(cluster.ClusterId, id, destination, out _, out error))
            {
                errors.Add(new ArgumentException(error));
            }
        }
    }
}
