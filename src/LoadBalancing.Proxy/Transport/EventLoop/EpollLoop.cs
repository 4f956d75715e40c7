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

    /// <summary>What <see cref="BusySince"/> reads while the loop waits in epoll_wait.</summary>
    public const long Idle = long.MinValue;

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

    // Two clock reads per batch (a batch is every event one epoll_wait returned, then the posted work), not per request:
    // under load one batch serves many requests. Written on the loop thread only; read by the watchdog and metrics.
    private readonly TimeProvider _time;
    private readonly long _stallTicks;
    private long _busySince = Idle;
    private long _busyTicks;

    public EpollLoop(int index, TimeProvider? time = null)
    {
        Index = index;
        _time = time ?? TimeProvider.System;
        _stallTicks = (long)(EpollLoopWatchdog.StallThreshold.TotalSeconds * _time.TimestampFrequency);
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

    /// <summary><see cref="Index"/> as text: the <c>loop</c> tag of the loops' metrics.</summary>
    public string Label => field ??= Index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The loop whose thread is running, or null off every loop.</summary>
    public static EpollLoop? Current => t_current;

    public bool IsCurrent => t_current == this;

    /// <summary>When the batch the loop is running began (<see cref="TimeProvider.GetTimestamp"/>), or <see cref="Idle"/> while it waits.</summary>
    public long BusySince => Volatile.Read(ref _busySince);

    /// <summary>The time the loop has spent running batches rather than waiting in epoll_wait.</summary>
    public TimeSpan BusyTime => _time.GetElapsedTime(0, Volatile.Read(ref _busyTicks));

    /// <summary>Told of every batch that ran past <see cref="EpollLoopWatchdog.StallThreshold"/>; set once, before the loop gets work.</summary>
    public EpollLoopWatchdog? Watchdog { get; set; }

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
            var start = _time.GetTimestamp();
            Volatile.Write(ref _busySince, start);
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
            var ran = _time.GetTimestamp() - start;
            Volatile.Write(ref _busySince, Idle);
            Volatile.Write(ref _busyTicks, _busyTicks + ran);
            if (ran >= _stallTicks)
            {
                Watchdog?.BatchEnded(this, start, ran);
            }
        }
    }

    private void Invoke(IEpollHandler handler, uint events)
    {
        try
        {
            handler.OnEvents(events);
        }
        catch (Exception ex)
        {
            // A handler's failure is its connection's, never the loop's: the other connections on this thread go on.
            Failed(ex);
        }
    }

    private void Failed(Exception ex)
    {
        if (Watchdog is { } watchdog)
        {
            watchdog.Failed(this, ex);
        }
        else
        {
            Trace.TraceError($"epoll loop {Index} failed: {ex}");
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
                Failed(ex);
            }
        }
    }
}
