using System.Net;

namespace LoadBalancing.Proxy.AccessLog;

/// <summary>
/// One request as the access log sees it. Built on the request path from values the request already holds (Kestrel's
/// strings, the forwarder's exchange), so queueing it formats and allocates nothing; the writer formats it later.
/// </summary>
internal readonly struct AccessLogEntry
{
    public long TimeTicks { get; init; }
    public IPAddress? Client { get; init; }
    public string Method { get; init; }
    public string? Host { get; init; }

    /// <summary>The request target as the client sent it: path and query, still percent-encoded.</summary>
    public string? Target { get; init; }
    public string Protocol { get; init; }

    /// <summary>The status the client got; 0 when it left before a response.</summary>
    public int Status { get; init; }
    public long BytesIn { get; init; }
    public long BytesOut { get; init; }
    public TimeSpan Duration { get; init; }
    public string? Upstream { get; init; }
    public int UpstreamStatus { get; init; }

    /// <summary>Time to the upstream's response head; negative when no head arrived.</summary>
    public TimeSpan UpstreamTime { get; init; }
    public string? Route { get; init; }
    public string? Cluster { get; init; }
    public int Attempts { get; init; }

    /// <summary>Why the proxy answered the request itself (or the client left); null when the upstream answered.</summary>
    public string? Reason { get; init; }

    /// <summary>The trace the request belongs to when it was traced (the host's span or the proxy's); default otherwise.</summary>
    public System.Diagnostics.ActivityTraceId TraceId { get; init; }
}
