using LoadBalancing.Proxy.Metrics;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>
/// How one attempt against one endpoint ended, and what the client should get if it was the last. A retryable outcome
/// says which retry condition it is, so a route's policy can decide whether to try again.
/// </summary>
internal readonly record struct AttemptOutcome(bool Done, bool Retryable, UpstreamError Error, int Status, string Message, RetryConditions Condition = RetryConditions.None)
{
    public static readonly AttemptOutcome Success = new(true, false, default, 0, "");

    public static AttemptOutcome Retry(UpstreamError error, int status, string message) =>
        new(false, true, error, status, message, error == UpstreamError.Connect ? RetryConditions.ConnectFailure : RetryConditions.Reset);

    public static AttemptOutcome Fail(UpstreamError error, int status, string message) => new(false, false, error, status, message);

    /// <summary>The upstream answered a status the route retries; the answer was dropped for another attempt.</summary>
    public static AttemptOutcome RetryStatus(int status) =>
        new(false, true, UpstreamError.Reset, status, "upstream answered " + StatusText(status) + " and no other endpoint could take the request",
            status switch { 502 => RetryConditions.Status502, 503 => RetryConditions.Status503, _ => RetryConditions.Status504 });

    /// <summary>Whether this is a retried response rather than a failure (it is not counted as an upstream error).</summary>
    public bool IsStatusRetry => Condition >= RetryConditions.Status502;

    private static string StatusText(int status) => status switch { 502 => "502", 503 => "503", _ => "504" };
}
