using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Upstream.Tls;

/// <summary>
/// Upstream TLS events an operator must see: unchecked certificates, and certificate files that changed. Logged in the
/// clusters' category (<c>LoadBalancing.Proxy.Clusters</c>), after <see cref="Clusters.ClusterLog"/>'s event ids.
/// </summary>
internal static partial class UpstreamTlsLog
{
    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "Cluster {Cluster}: Tls:SkipValidation is on; the endpoints' certificates are not checked, so anyone on the path can impersonate them.")]
    public static partial void SkipValidation(ILogger logger, string cluster);

    [LoggerMessage(EventId = 21, Level = LogLevel.Information, Message = "Cluster {Cluster}: TLS certificate files read again; new connections use them.")]
    public static partial void MaterialReloaded(ILogger logger, string cluster);

    [LoggerMessage(EventId = 22, Level = LogLevel.Warning, Message = "Cluster {Cluster}: TLS certificate files changed but cannot be used ({Problem}); new connections keep the last good ones.")]
    public static partial void MaterialReloadFailed(ILogger logger, string cluster, string problem);
}
