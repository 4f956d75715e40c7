namespace LoadBalancing.Proxy.Metrics;

/// <summary>Why a request was refused with 400 before it was routed.</summary>
internal enum RequestRejection
{
    /// <summary>A Content-Length that is not one plain decimal number (RFC 9110 §8.6).</summary>
    ContentLength,

    /// <summary>A Transfer-Encoding other than exactly one <c>chunked</c>.</summary>
    TransferEncoding,

    /// <summary>Transfer-Encoding on an HTTP/1.0 request (RFC 9112 §6.1).</summary>
    Http10TransferEncoding,

    /// <summary>Both Content-Length and Transfer-Encoding (RFC 9112 §6.3).</summary>
    ContentLengthAndTransferEncoding,

    /// <summary>A header name that is not a token (RFC 9110 §5.1).</summary>
    HeaderName,

    /// <summary>A control character other than HTAB in a header value (RFC 9110 §5.5).</summary>
    HeaderValue,

    /// <summary>A <c>#</c> in the request target: a fragment, which no request carries (RFC 9112 §3.2).</summary>
    Fragment,

    /// <summary>An HTTP/1.1 request whose Host is empty (RFC 9110 §4.2.1: an http URI's host is never empty).</summary>
    EmptyHost,
}

/// <summary>Counts of refused requests by reason; proxy-wide, since a refused request never reaches a cluster.</summary>
internal sealed class RequestRejections
{
    public static readonly string[] ReasonNames = ["content_length", "transfer_encoding", "http10_transfer_encoding", "content_length_and_transfer_encoding", "header_name", "header_value", "fragment", "empty_host"];

    private readonly long[] _counts = new long[ReasonNames.Length];

    public void Add(RequestRejection reason) => Interlocked.Increment(ref _counts[(int)reason]);

    public long Count(RequestRejection reason) => Volatile.Read(ref _counts[(int)reason]);
}
