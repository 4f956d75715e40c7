using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Transport.EventLoop;

internal static partial class EventLoopLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Event loop {Loop} has been running one batch for {Milliseconds:0} ms: every connection on that loop waits until it returns. Code that runs on a loop thread must not block (synchronous I/O, a lock held long, .Result, Thread.Sleep); a long garbage-collection pause, or a freshly started JIT-compiled host compiling its request path, shows here too.")]
    public static partial void StallRunning(ILogger logger, int loop, double milliseconds);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Event loop {Loop} has been running one batch for {Seconds:0.0} s and is taken as wedged: /healthz answers 503 until it returns, so that the kubelet restarts the process.")]
    public static partial void StallWedged(ILogger logger, int loop, double seconds);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Event loop {Loop} ran one batch for {Milliseconds:0} ms: every connection on that loop waited. Code that runs on a loop thread must not block (synchronous I/O, a lock held long, .Result, Thread.Sleep); a long garbage-collection pause, or a freshly started JIT-compiled host compiling its request path, shows here too.")]
    public static partial void Stalled(ILogger logger, int loop, double milliseconds);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Event loop {Loop} is serving again after one batch of {Milliseconds:0} ms.")]
    public static partial void StallEnded(ILogger logger, int loop, double milliseconds);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "Event loop {Loop} caught a failure of one connection's work and went on with the others.")]
    public static partial void Failed(ILogger logger, int loop, Exception exception);

    public static void Report(ILogger logger, LoopStall stall)
    {
        var ms = stall.Duration.TotalMilliseconds;
        switch (stall.Phase)
        {
            case LoopStallPhase.Running:
                StallRunning(logger, stall.Loop, ms);
                break;
            case LoopStallPhase.Wedged:
                StallWedged(logger, stall.Loop, stall.Duration.TotalSeconds);
                break;
            case LoopStallPhase.Ended:
                Stalled(logger, stall.Loop, ms);
                break;
            default:
                StallEnded(logger, stall.Loop, ms);
                break;
        }
    }
}
