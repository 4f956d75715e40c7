namespace LoadBalancing.Proxy;

/// <summary>How a cluster judges gRPC calls (requests whose content type is <c>application/grpc</c>).</summary>
public sealed class GrpcOptions
{
    /// <summary>
    /// The <c>grpc-status</c> codes that count against the endpoint for outlier detection and peak-EWMA, as
    /// a 5xx does for HTTP. Null (the default) means <see cref="DefaultFailureStatuses"/>; an empty list counts none.
    /// </summary>
    public IList<GrpcStatusCode>? FailureStatuses { get; set; }

    /// <summary>
    /// <see cref="GrpcStatusCode.Unavailable"/> and <see cref="GrpcStatusCode.ResourceExhausted"/>: the endpoint could
    /// not serve the call. Codes such as NotFound or InvalidArgument describe the call, not the endpoint.
    /// </summary>
    public static IReadOnlyList<GrpcStatusCode> DefaultFailureStatuses { get; } = [GrpcStatusCode.Unavailable, GrpcStatusCode.ResourceExhausted];

    /// <summary>
    /// Whether a call's <c>grpc-timeout</c> header bounds how long the proxy waits for it, answering
    /// DEADLINE_EXCEEDED when it passes (the header is forwarded either way). Default true.
    /// </summary>
    public bool HonourDeadlines { get; set; } = true;
}

/// <summary>The gRPC status codes (grpc/doc/statuscodes.md).</summary>
public enum GrpcStatusCode
{
    /// <summary>0: success.</summary>
    Ok = 0,

    /// <summary>1: the caller cancelled.</summary>
    Cancelled = 1,

    /// <summary>2: unknown error.</summary>
    Unknown = 2,

    /// <summary>3: the arguments are invalid.</summary>
    InvalidArgument = 3,

    /// <summary>4: the deadline passed before the call completed.</summary>
    DeadlineExceeded = 4,

    /// <summary>5: an entity was not found.</summary>
    NotFound = 5,

    /// <summary>6: the entity already exists.</summary>
    AlreadyExists = 6,

    /// <summary>7: the caller may not do this.</summary>
    PermissionDenied = 7,

    /// <summary>8: a resource (quota, memory) ran out.</summary>
    ResourceExhausted = 8,

    /// <summary>9: the system is not in a state for this call.</summary>
    FailedPrecondition = 9,

    /// <summary>10: the call was aborted (a concurrency conflict).</summary>
    Aborted = 10,

    /// <summary>11: past the valid range.</summary>
    OutOfRange = 11,

    /// <summary>12: not implemented by the server.</summary>
    Unimplemented = 12,

    /// <summary>13: an internal error.</summary>
    Internal = 13,

    /// <summary>14: the service is unavailable; retrying may succeed.</summary>
    Unavailable = 14,

    /// <summary>15: data was lost.</summary>
    DataLoss = 15,

    /// <summary>16: the caller is not authenticated.</summary>
    Unauthenticated = 16,
}
