using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Configuration.ClusterValidators;

namespace LoadBalancing.Yarp.Configuration;

/// <summary>Rejects bad hash-key and weight metadata when YARP loads its configuration, so a typo stops the load.</summary>
internal sealed class MetadataValidator : IClusterValidator
{
    public ValueTask ValidateAsync(ClusterConfig cluster, IList<Exception> errors)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(errors);
        YarpMetadata.Validate(cluster, errors);
        return ValueTask.CompletedTask;
    }
}
