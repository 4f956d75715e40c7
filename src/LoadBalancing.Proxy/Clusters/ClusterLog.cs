using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Clusters;

/// <summary>Changes of a cluster's endpoints an operator wants in the log: one line per change, never one per request.</summary>
internal static partial class ClusterLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Cluster {Cluster}: endpoint {Endpoint} ejected ({Reason}) until {Until:O}.")]
    public static partial void EndpointEjected(ILogger logger, string cluster, string endpoint, string? reason, DateTimeOffset? until);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Cluster {Cluster}: endpoint {Endpoint} returned to service, its ejection over.")]
    public static partial void EndpointReturned(ILogger logger, string cluster, string endpoint);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Cluster {Cluster} entered panic mode ({Reason}): traffic goes to every eligible endpoint, ejected ones included.")]
    public static partial void PanicEntered(ILogger logger, string cluster, string? reason);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Cluster {Cluster} left panic mode ({Reason}).")]
    public static partial void PanicLeft(ILogger logger, string cluster, string? reason);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Cluster {Cluster}: no endpoint could take a request; sending to the fallback {Fallback}. Logged again only after an endpoint has answered.")]
    public static partial void FallbackUsed(ILogger logger, string cluster, string fallback);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "Cluster {Cluster}: an endpoint answered again; the fallback {Fallback} is no longer the only way through.")]
    public static partial void FallbackLeft(ILogger logger, string cluster, string fallback);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "Cluster {Cluster}: endpoint {Endpoint} failed its health check ({Reason}); it takes no traffic until the check passes again.")]
    public static partial void EndpointUnhealthy(ILogger logger, string cluster, string endpoint, string? reason);

    [LoggerMessage(EventId = 8, Level = LogLevel.Information, Message = "Cluster {Cluster}: endpoint {Endpoint} passed its health check ({Reason}) and takes traffic.")]
    public static partial void EndpointHealthy(ILogger logger, string cluster, string endpoint, string? reason);
}
