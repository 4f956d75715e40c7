namespace LoadBalancing.Yarp.Kubernetes;

/// <summary>
/// The address form of a YARP destination that names a Kubernetes Service:
/// <c>k8s:///namespace/service[:port][/path]</c> (plain HTTP to the pods) or
/// <c>k8s+https:///namespace/service[:port][/path]</c> (HTTPS). The port is the Service port's name or number, absent
/// for the Service's only port; the path, if any, is kept on every resolved destination.
/// </summary>
public static class KubernetesDestinationAddress
{
    /// <summary>The scheme whose destinations are reached over plain HTTP: <c>k8s</c>, as in the gRPC resolver's <c>k8s:///</c> targets.</summary>
    public const string Scheme = "k8s";

    /// <summary>The scheme whose destinations are reached over HTTPS: <c>k8s+https</c>.</summary>
    public const string HttpsScheme = "k8s+https";
}
