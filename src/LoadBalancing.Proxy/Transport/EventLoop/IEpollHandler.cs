namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>Something registered on an <see cref="EpollLoop"/>: told of its descriptor's readiness, on the loop thread.</summary>
internal interface IEpollHandler
{
    void OnEvents(uint events);
}
