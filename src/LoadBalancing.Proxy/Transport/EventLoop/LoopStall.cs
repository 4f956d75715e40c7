namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>Where a stall is: running past the threshold, running past <see cref="EpollLoopWatchdog.WedgedAfter"/>, or over.</summary>
internal enum LoopStallPhase
{
    Running,
    Wedged,
    Ended,
    EndedAfterWarning,
}

/// <summary>A loop's batch that ran past <see cref="EpollLoopWatchdog.StallThreshold"/>: which loop, how long so far (or in all).</summary>
internal readonly record struct LoopStall(int Loop, TimeSpan Duration, LoopStallPhase Phase);
