using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.AccessLog;

internal static partial class AccessLogLog
{
    [LoggerMessage(1, LogLevel.Information, "Access log reopened: {Path}")]
    public static partial void Reopened(ILogger logger, string path);

    [LoggerMessage(2, LogLevel.Error, "The access log could not be written to {Path}; lines are dropped until it can")]
    public static partial void WriteFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(3, LogLevel.Error, "The access log could not be reopened at {Path}; lines are dropped until the next SIGUSR1 succeeds")]
    public static partial void ReopenFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(4, LogLevel.Error, "An access log line could not be formatted; it was dropped")]
    public static partial void FormatFailed(ILogger logger, Exception exception);
}
