using System.Diagnostics.Metrics;

namespace LoadBalancing.Proxy.Metrics;

/// <summary>Why the proxy answered a request itself, or how an upstream attempt failed.</summary>
internal enum UpstreamError
{
    /// <summary>No endpoint was usable (503).</summary>
    NoEndpoint,

    /// <summary>The TCP connect failed or timed out.</summary>
    Connect,

    /// <summary>The connection broke before the whole response arrived.</summary>
    Reset,

    /// <summary>The response headers did not arrive in time, or a body stalled (504).</summary>
    Timeout,

    /// <summary>The upstream's response was not valid HTTP/1.1 framing (502).</summary>
    BadResponse,

    /// <summary>The client went away before the response was complete.</summary>
    ClientAborted,

    /// <summary>The cluster had its <c>MaxConcurrentRequests</c> in flight: answered 503 without trying an endpoint.</summary>
    Overflow,
}

/// <summary>
/// Counters of one cluster. Updated with interlocked operations on the request path; read by the observable
/// instruments of <see cref="ProxyMetrics"/> and the admin endpoint.
/// </summary>
internal sealed class ClusterMetrics(string cluster, Histogram<double> upstreamDuration)
{
    public static readonly string[] ErrorNames = ["no_endpoint", "connect", "reset", "timeout", "bad_response", "client_aborted", "overflow"];

    private readonly long[] _responses = new long[StatusCodeLabels.Count]; // by StatusCodeLabels.Slot; 0 = no response (aborted)
    private readonly long[] _errors = new long[ErrorNames.Length];
    private long _retries;
    private long _retriesOverBudget;
    private long _fallbackRequests;
    private long _connectionsOpened;
    private long _connectionsOpen;
    private long _connectionsReused;
    private long _inFlight;
    private long _sessionsMoved;

    public LatencyHistogram UpstreamLatency { get; } = new(upstreamDuration, cluster);

    public long Retries => Volatile.Read(ref _retries);

    /// <summary>Retries not made because the cluster's retry budget was spent.</summary>
    public long RetriesOverBudget => Volatile.Read(ref _retriesOverBudget);

    public long FallbackRequests => Volatile.Read(ref _fallbackRequests);

    /// <summary>Requests whose affinity cookie named an endpoint that was not usable, balanced elsewhere.</summary>
    public long SessionsMoved => Volatile.Read(ref _sessionsMoved);

    public long ConnectionsOpened => Volatile.Read(ref _connectionsOpened);

    public long ConnectionsOpen => Volatile.Read(ref _connectionsOpen);

    public long ConnectionsReused => Volatile.Read(ref _connectionsReused);

    public long InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Responses by status class (0: none, 1–5: 1xx–5xx).</summary>
    public long Responses(int statusClass) => StatusCodeLabels.Class(_responses, statusClass);

    /// <summary>Responses counted in one <see cref="StatusCodeLabels"/> slot.</summary>
    public long ResponsesIn(int slot) => Volatile.Read(ref _responses[slot]);

    public long Errors(UpstreamError error) => Volatile.Read(ref _errors[(int)error]);

    /// <summary>Counts a request in; returns the requests in flight with it, for the cluster's limit.</summary>
    public long RequestStarted() => Interlocked.Increment(ref _inFlight);

    public void RequestEnded(int statusCode)
    {
        Interlocked.Decrement(ref _inFlight);
        Interlocked.Increment(ref _responses[StatusCodeLabels.Slot(statusCode)]);
    }

    public void Error(UpstreamError error) => Interlocked.Increment(ref _errors[(int)error]);

    public void Retry() => Interlocked.Increment(ref _retries);

    public void RetryOverBudget() => Interlocked.Increment(ref _retriesOverBudget);

    public void Fallback() => Interlocked.Increment(ref _fallbackRequests);

    public void SessionMoved() => Interlocked.Increment(ref _sessionsMoved);

    public void ConnectionOpened()
    {
        Interlocked.Increment(ref _connectionsOpened);
        Interlocked.Increment(ref _connectionsOpen);
    }

    public void ConnectionClosed() => Interlocked.Decrement(ref _connectionsOpen);

    public void ConnectionReused() => Interlocked.Increment(ref _connectionsReused);
}
