using System.Runtime.CompilerServices;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary><c>await loop.Yield()</c>: the rest of the method runs on the loop's thread.</summary>
internal readonly struct LoopAwaitable(EpollLoop loop) : ICriticalNotifyCompletion
{
    public LoopAwaitable GetAwaiter() => this;

    public bool IsCompleted => false;

    public void GetResult()
    {
    }

    public void OnCompleted(Action continuation) => loop.Post(static state => ((Action)state!)(), continuation);

    public void UnsafeOnCompleted(Action continuation) => OnCompleted(continuation);
}
