namespace LoadBalancing.Proxy.Kubernetes.Backends;

/// <summary>
/// The protocol a Service port declares in <c>appProtocol</c>, as the Gateway API reads it (GEP-1911): the values it
/// standardises, and the IANA names that say the same. Other values (and none) leave the cluster's protocol as configured.
/// </summary>
internal static class AppProtocols
{
    public static UpstreamProtocol? ToUpstream(string? appProtocol) => appProtocol?.ToLowerInvariant() switch
    {
        "kubernetes.io/h2c" or "h2c" or "grpc" => UpstreamProtocol.Http2,
        "kubernetes.io/ws" or "http" or "http/1.1" => UpstreamProtocol.Http1,
        _ => null,
    };
}
