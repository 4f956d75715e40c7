using System.Collections.Concurrent;
using System.Diagnostics;

namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// One thread with one epoll set. Everything a registered descriptor does (receive, send, close) happens on this
/// thread, so a descriptor is never used by two threads and never closed under another's feet; other threads hand
/// work over with <see cref="Post"/>, which wakes the loop through an eventfd. Loops live as long as the process (as
/// nginx's workers do): their descriptors are never closed, so a late <see cref="Post"/> can never write to a reused one.
/// </summary>
internal sealed unsafe class EpollLoop
{
    private const ulong WakeToken = ulong.MaxValue;
    private const int MaxEvents = 256;

    [ThreadStatic]
    private static EpollLoop? t_current;

    private readonly int _epoll;
    private readonly int _wake;
    private readonly Thread _thread;
    private readonly ConcurrentQueue<(Action<object?> Action, object? State)> _posted = new();

    // Slots are touched on the loop thread only. A token is slot | generation << 32, so an event still queued for a
    // descriptor closed earlier in the same batch never reaches the handler that reused its slot.
    private IEpollHandler?[] _handlers = new IEpollHandler?[64];
    private uint[] _generations = new uint[64];
    private readonly Stack<int> _free = new();
    private int _used;
    private int _wakePending;

    public EpollLoop(int index)
    {
        Index = index;
        _epoll = EpollNative.EpollCreate1(EpollNative.EpollCloExec);
        _wake = EpollNative.EventFd(0, EpollNative.EfdNonBlock | EpollNative.EfdCloExec);
        if (_epoll < 0 || _wake < 0 || EpollNative.Add(_epoll, _wake, EpollNative.EpollIn, WakeToken) < 0)
        {
            throw new IOException($"The event loop could not be created: errno {EpollNative.Errno}.");
        }

        Scheduler = new EpollLoopScheduler(this);
        _thread = new Thread(Run) { IsBackground = true, Name = $"epoll loop {index}" };
        _thread.UnsafeStart();
    }

    /// <summary>The loop's place in <see cref="EpollLoopGroup.Loops"/>.</summary>
    public int Index { get; }

    /// <summary>The loop whose thread is running, or null off every loop.</summary>
    public static EpollLoop? Current => t_current;

    public bool IsCurrent => t_current == this;

    /// <summary>Runs continuations inline on this loop's thread, and posts them here from any other.</summary>
    public EpollLoopScheduler Scheduler { get; }

    /// <summary>Runs <paramref name="action"/> on the loop thread, after the events it is handling now.</summary>
    public void Post(Action<object?> action, object? state)
    {
        _posted.Enqueue((action, state));
        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            ulong one = 1;
            _ = EpollNative.Write(_wake, &one, sizeof(ulong));
        }
    }

    /// <summary>Watches <paramref name="fd"/> for <paramref name="events"/>; on the loop thread only. Returns the registration's token.</summary>
    public ulong Register(int fd, uint events, IEpollHandler handler)
    {
        Debug.Assert(IsCurrent);
        if (!_free.TryPop(out var slot))
        {
            slot = _used++;
            if (slot == _handlers.Length)
            {
                Array.Resize(ref _handlers, slot * 2);
                Array.Resize(ref _generations, slot * 2);
            }
        }

        _handlers[slot] = handler;
        var token = (uint)slot | ((ulong)_generations[slot] << 32);
        if (EpollNative.Add(_epoll, fd, events, token) < 0)
        {
            var errno = EpollNative.Errno;
            Release(token);
            throw new IOException($"epoll_ctl failed: errno {errno}.");
        }

        return token;
    }

    /// <summary>Stops watching <paramref name="fd"/> (before it is closed); on the loop thread only.</summary>
    public void Unregister(int fd, ulong token)
    {
        Debug.Assert(IsCurrent);
        _ = EpollNative.Remove(_epoll, fd);
        Release(token);
    }

    private void Release(ulong token)
    {
        var slot = (int)(uint)token;
        _handlers[slot] = null;
        _generations[slot]++;
        _free.Push(slot);
    }

    private void Run()
    {
        t_current = this;
        var events = stackalloc byte[MaxEvents * 16];
        while (true)
        {
            var count = EpollNative.EpollWait(_epoll, events, MaxEvents, -1);
            for (var i = 0; i < count; i++)
            {
                var token = EpollNative.TokenAt(events, i);
                if (token == WakeToken)
                {
                    ulong value;
                    _ = EpollNative.Read(_wake, &value, sizeof(ulong));

                    // Cleared before the queue is drained: a post after this point writes the eventfd again.
                    Volatile.Write(ref _wakePending, 0);
                    continue;
                }

                var slot = (int)(uint)token;
                if (slot < _used && _generations[slot] == (uint)(token >> 32) && _handlers[slot] is { } handler)
                {
                    Invoke(handler, EpollNative.EventsAt(events, i));
                }
            }

            RunPosted();
        }
    }

    private static void Invoke(IEpollHandler handler, uint events)
    {
        try
        {
            handler.OnEvents(events);
        }
        catch (Exception ex)
        {
            // A handler's failure is its connection's, never the loop's: the other connections on this thread go on.
            Trace.TraceError($"epoll loop handler failed: {ex}");
        }
    }

    private void RunPosted()
    {
        while (_posted.TryDequeue(out var work))
        {
            try
            {
                work.Action(work.State);
            }
            catch (Exception ex)
            {
                Trace.TraceError($"epoll loop work item failed: {ex}");
            }
        }
    }
}
