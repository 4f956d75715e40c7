namespace LoadBalancing.Yarp.Kubernetes;

/// <summary>
/// The destination metadata a resolved Kubernetes destination carries besides the metadata of the destination it came
/// from. Values are invariant text: booleans are <c>true</c> or <c>false</c>.
/// </summary>
public static class KubernetesDestinationMetadataKeys
{
    /// <summary>The Service port the destination was resolved from, as <c>namespace/service[:port]</c>.</summary>
    public const string Service = "LoadBalancing.Kubernetes.Service";

    /// <summary>The zone the endpoint runs in (the EndpointSlice's <c>zone</c>); absent when the slice does not say.</summary>
    public const string Zone = "LoadBalancing.Kubernetes.Zone";

    /// <summary>The zones the endpoint is hinted to serve (<c>hints.forZones</c>), comma-separated; absent without hints.</summary>
    public const string ForZones = "LoadBalancing.Kubernetes.ForZones";

    /// <summary>The endpoint's <c>ready</c> condition.</summary>
    public const string Ready = "LoadBalancing.Kubernetes.Ready";

    /// <summary>The endpoint's <c>serving</c> condition.</summary>
    public const string Serving = "LoadBalancing.Kubernetes.Serving";

    /// <summary>The endpoint's <c>terminating</c> condition.</summary>
    public const string Terminating = "LoadBalancing.Kubernetes.Terminating";
}
