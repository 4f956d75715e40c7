using System.IO.Pipelines;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// The pipe scheduler of a connection's loop side: a continuation runs inline when the loop thread itself completed
/// the operation (the request's work never leaves the thread), and is posted to the loop from any other thread.
/// </summary>
internal sealed class EpollLoopScheduler(EpollLoop loop) : PipeScheduler
{
    public override void Schedule(Action<object?> action, object? state)
    {
        if (loop.IsCurrent)
        {
            action(state);
        }
        else
        {
            loop.Post(action, state);
        }
    }
}
