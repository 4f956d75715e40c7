namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>Told what happens to the loops that their connections cannot say: stalls, and failures the loop caught. Called off the loops.</summary>
internal interface IEpollLoopObserver
{
    void OnStall(LoopStall stall);

    /// <summary>A handler or posted work item threw on loop <paramref name="loop"/>; the loop went on with the others.</summary>
    void OnFailure(int loop, Exception exception);
}
