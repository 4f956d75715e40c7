namespace LoadBalancing.Proxy;

internal static class ClusterOptionsExtensions
{
    public static BalancerOptions ToBalancerOptions(this ClusterOptions cluster, BackendEndpoint? fallback, string? zone = null) => new()
    {
        Zone = zone,
        Algorithm = cluster.Algorithm,
        LeastRequest = cluster.LeastRequest,
        PeakEwma = cluster.PeakEwma,
        Maglev = cluster.Maglev,
        RingHash = cluster.RingHash,
        HashBalanceFactor = cluster.HashBalanceFactor,
        OutlierDetection = cluster.OutlierDetection,
        SlowStart = cluster.SlowStart,
        PanicThresholdPercent = cluster.PanicThresholdPercent,
        AssumeHealthy = cluster.HealthCheck is not { Enabled: true, InitialState: HealthCheckInitialState.Unhealthy },
        Fallback = fallback,
    };

    public static BackendEndpoint ToEndpoint(this EndpointOptions options)
    {
        if (!HostPort.TryParse(options.Address, out var host, out var port, out var error))
        {
            throw new ProxyConfigurationException($"Endpoint address {error}.");
        }

        return new BackendEndpoint(host, port, options.Weight, options.Zone);
    }
}
