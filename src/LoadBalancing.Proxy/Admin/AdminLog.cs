using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Admin;

internal static partial class AdminLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "The admin endpoint listens on {Url}, which is not a loopback address: whoever reaches it can read /backends and /metrics. Keep Proxy:Admin:Url on 127.0.0.1 or [::1] (docs/proxy.md, Admin endpoint).")]
    public static partial void AdminNotLoopback(ILogger logger, string url);
}
