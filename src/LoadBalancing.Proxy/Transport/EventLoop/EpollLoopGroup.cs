namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// The process's event loops, one thread per processor, started on first use and shared by every listener (and every
/// host in the process): thread-per-core is a property of the process, not of one server in it. One watchdog looks
/// after them all.
/// </summary>
internal static class EpollLoopGroup
{
    private static readonly Lazy<EpollLoopWatchdog> s_watchdog = new(() =>
    {
        var loops = new EpollLoop[Environment.ProcessorCount];
        for (var i = 0; i < loops.Length; i++)
        {
            loops[i] = new EpollLoop(i);
        }

        return new EpollLoopWatchdog(loops, TimeProvider.System);
    });

    public static EpollLoop[] Loops => s_watchdog.Value.Loops;

    /// <summary>The loops' watchdog, or null while no listener has started the loops (nothing is started to read it).</summary>
    public static EpollLoopWatchdog? Watchdog => s_watchdog.IsValueCreated ? s_watchdog.Value : null;
}
