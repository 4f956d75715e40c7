using System.Net;

namespace LoadBalancing.Http.Internal;

/// <summary>What counts as an endpoint's failure, and when a request may go to another endpoint.</summary>
internal static class RetryRules
{
    /// <summary>A failure for outlier detection and peak-EWMA's penalty: 429 and every 5xx.</summary>
    public static bool IsFailure(HttpStatusCode status) => status == HttpStatusCode.TooManyRequests || (int)status >= 500;

    /// <summary>
    /// Whether the send failed before the request left the client: no connection (refused, unreachable, name not
    /// resolved, TLS handshake failed). Such a request can go elsewhere whatever its method and content, since no
    /// server saw it and its content was never read.
    /// </summary>
    public static bool IsUnsent(Exception e) => e is HttpRequestException
    {
        HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError,
    };

    /// <summary>
    /// Whether a request the server may have seen can be sent again: its method is idempotent (RFC 9110: GET, HEAD,
    /// OPTIONS, PUT, DELETE, TRACE) and it has no content or content that serializes the same bytes every time
    /// (<see cref="ByteArrayContent"/>, so <see cref="StringContent"/> and <see cref="FormUrlEncodedContent"/>, and
    /// <see cref="ReadOnlyMemoryContent"/>). A stream may be half read and cannot be rewound safely in general.
    /// </summary>
    public static bool CanResend(HttpRequestMessage request) => IsIdempotent(request.Method) && request.Content is null or ByteArrayContent or ReadOnlyMemoryContent;

    public static bool IsIdempotent(HttpMethod method) =>
        method == HttpMethod.Get || method == HttpMethod.Head || method == HttpMethod.Options
        || method == HttpMethod.Put || method == HttpMethod.Delete || method == HttpMethod.Trace;
}
