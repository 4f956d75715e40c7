using LoadBalancing.Proxy.Metrics;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>How one attempt against one endpoint ended, and what the client should get if it was the last.</summary>
internal readonly record struct AttemptOutcome(bool Done, bool Retryable, UpstreamError Error, int Status, string Message)
{
    public static readonly AttemptOutcome Success = new(true, false, default, 0, "");

    public static AttemptOutcome Retry(UpstreamError error, int status, string message) => new(false, true, error, status, message);

    public static AttemptOutcome Fail(UpstreamError error, int status, string message) => new(false, false, error, status, message);
}
