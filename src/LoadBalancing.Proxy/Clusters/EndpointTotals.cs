using System.Net.Sockets;

namespace LoadBalancing.Proxy.Clusters;

/// <summary>How a connect to an upstream failed, from the socket error (or the connect timeout).</summary>
internal enum ConnectFailure
{
    /// <summary>Nothing listened: the peer answered the SYN with a reset (ECONNREFUSED).</summary>
    Refused,

    /// <summary>No route to the host or its network.</summary>
    Unreachable,

    /// <summary>The cluster's connect timeout passed first.</summary>
    Timeout,

    /// <summary>Any other socket error (a reset during the handshake, out of ports…).</summary>
    Reset,

    /// <summary>The TLS handshake failed or the upstream's certificate was refused.</summary>
    Tls,
}

/// <summary>
/// Running totals of one endpoint for <c>/backends</c>: attempts, responses by class, and how attempts failed. Held by
/// the endpoint's connection pool, which the request already has in hand, so counting is an interlocked increment with
/// no look-up; it lives as long as the pool, which follows the endpoint's state across endpoint-set updates.
/// </summary>
internal sealed class EndpointTotals
{
    public static readonly string[] ConnectFailureNames = ["refused", "unreachable", "timeout", "reset", "tls"];

    private readonly long[] _responses = new long[Metrics.StatusCodeLabels.Count]; // by StatusCodeLabels.Slot
    private readonly long[] _connectFailures = new long[ConnectFailureNames.Length];
    private long _requests;
    private long _timeouts;
    private long _resets;
    private long _retriedElsewhere;

    /// <summary>Attempts sent to (or tried on) this endpoint; every attempt counts once.</summary>
    public long Requests => Volatile.Read(ref _requests);

    public long Timeouts => Volatile.Read(ref _timeouts);

    public long Resets => Volatile.Read(ref _resets);

    public long RetriedElsewhere => Volatile.Read(ref _retriedElsewhere);

    /// <summary>Responses by status class (1–5: 1xx–5xx).</summary>
    public long Responses(int statusClass) => Metrics.StatusCodeLabels.Class(_responses, statusClass);

    /// <summary>Responses counted in one <see cref="Metrics.StatusCodeLabels"/> slot.</summary>
    public long ResponsesIn(int slot) => Volatile.Read(ref _responses[slot]);

    public long ConnectFailures(ConnectFailure kind) => Volatile.Read(ref _connectFailures[(int)kind]);

    public void Attempt() => Interlocked.Increment(ref _requests);

    public void Response(int status)
    {
        // A status outside 100–599 (the parser passes 100–999) is no class of ours: not counted.
        var slot = Metrics.StatusCodeLabels.Slot(status);
        if (slot != Metrics.StatusCodeLabels.None)
        {
            Interlocked.Increment(ref _responses[slot]);
        }
    }

    public void Timeout() => Interlocked.Increment(ref _timeouts);

    public void Reset() => Interlocked.Increment(ref _resets);

    public void ConnectFailed(ConnectFailure kind) => Interlocked.Increment(ref _connectFailures[(int)kind]);

    public void Retried() => Interlocked.Increment(ref _retriedElsewhere);

    /// <summary>The kind of a failed connect: the socket's error, or the connect timeout when the attempt was cancelled.</summary>
    public static ConnectFailure Classify(Exception e) => e switch
    {
        Upstream.Tls.UpstreamTlsException => ConnectFailure.Tls,
        OperationCanceledException => ConnectFailure.Timeout,
        SocketException { SocketErrorCode: SocketError.ConnectionRefused } => ConnectFailure.Refused,
        SocketException { SocketErrorCode: SocketError.HostUnreachable or SocketError.NetworkUnreachable } => ConnectFailure.Unreachable,
        SocketException { SocketErrorCode: SocketError.TimedOut } => ConnectFailure.Timeout,
        _ => ConnectFailure.Reset,
    };
}
