namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// The process's event loops, one thread per processor, started on first use and shared by every listener (and every
/// host in the process): thread-per-core is a property of the process, not of one server in it.
/// </summary>
internal static class EpollLoopGroup
{
    private static readonly Lazy<EpollLoop[]> s_loops = new(() =>
    {
        var loops = new EpollLoop[Environment.ProcessorCount];
        for (var i = 0; i < loops.Length; i++)
        {
            loops[i] = new EpollLoop(i);
        }

        return loops;
    });

    public static EpollLoop[] Loops => s_loops.Value;
}
