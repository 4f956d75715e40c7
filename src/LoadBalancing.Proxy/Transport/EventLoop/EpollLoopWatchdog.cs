namespace LoadBalancing.Proxy.Transport.EventLoop;

/// <summary>
/// Notices a loop that stops returning to epoll_wait. On a loop one blocking call (synchronous I/O, a lock, <c>.Result</c>,
/// <c>Thread.Sleep</c>) holds every connection of that loop, so each batch that runs past <see cref="StallThreshold"/> is
/// a stall: counted, and told to the subscribers (the transport logs it) while it lasts and when it ends. A batch still
/// running after <see cref="WedgedAfter"/> makes the loops not live, so that <c>/healthz</c> fails and the kubelet
/// restarts a process whose loop will not come back. Envoy's watchdog does the same for its workers (its "miss" is
/// 200 ms too); its kill is off by default, and the kubelet's liveness probe plays that part here. It also relays the
/// failures a loop caught (a handler that threw), which would otherwise go unseen.
/// </summary>
internal sealed class EpollLoopWatchdog : IDisposable
{
    /// <summary>A batch that runs this long is a stall. A busy batch of 256 events takes about 10 ms; a TLS handshake about 1 ms.</summary>
    public static readonly TimeSpan StallThreshold = TimeSpan.FromMilliseconds(200);

    /// <summary>A batch that runs this long will not end by itself: the loops are no longer live.</summary>
    public static readonly TimeSpan WedgedAfter = TimeSpan.FromSeconds(10);

    /// <summary>How often running batches are looked at: a stall is reported within this much of its threshold.</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromMilliseconds(100);

    private readonly EpollLoop[] _loops;
    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    private readonly Lock _sync = new();

    // Per loop: the start of the last batch counted as a stall and of the last reported wedged (so each is told once,
    // by whichever of the loop and the timer sees it first), the stalls counted, the ticks of the stalls that ended, and
    // the highest stall time read (TimeSpan ticks).
    private readonly long[] _counted;
    private readonly long[] _wedged;
    private readonly long[] _stalls;
    private readonly long[] _stalledTicks;
    private readonly long[] _reported;
    private IEpollLoopObserver[] _observers = [];

    public EpollLoopWatchdog(EpollLoop[] loops, TimeProvider time)
    {
        _loops = loops;
        _time = time;
        _counted = new long[loops.Length];
        _wedged = new long[loops.Length];
        Array.Fill(_counted, EpollLoop.Idle);
        Array.Fill(_wedged, EpollLoop.Idle);
        _stalls = new long[loops.Length];
        _stalledTicks = new long[loops.Length];
        _reported = new long[loops.Length];
        foreach (var loop in loops)
        {
            loop.Watchdog = this;
        }

        _timer = time.CreateTimer(static state => ((EpollLoopWatchdog)state!).Check(), this, CheckInterval, CheckInterval);
    }

    public EpollLoop[] Loops => _loops;

    /// <summary>Batches of the loop that ran (or are running) past <see cref="StallThreshold"/>.</summary>
    public long Stalls(int loop) => Volatile.Read(ref _stalls[loop]);

    /// <summary>The time the loop has spent in stalls, the one still running included.</summary>
    public TimeSpan StalledTime(int loop)
    {
        var ended = _time.GetElapsedTime(0, Volatile.Read(ref _stalledTicks[loop]));
        var since = _loops[loop].BusySince;
        var stalled = since != EpollLoop.Idle && Volatile.Read(ref _counted[loop]) == since ? ended + _time.GetElapsedTime(since) : ended;

        // A reading whose clock came after the loop's own last one, just before a stall ends, counts more of it than the
        // loop then adds; the next reading would be lower, and a counter that falls reads as a reset (Prometheus' rate()
        // would take its whole value for an increase). So no reading is lower than the one before it.
        var seen = Volatile.Read(ref _reported[loop]);
        while (stalled.Ticks > seen)
        {
            var before = Interlocked.CompareExchange(ref _reported[loop], stalled.Ticks, seen);
            if (before == seen)
            {
                return stalled;
            }

            seen = before;
        }

        return TimeSpan.FromTicks(seen);
    }

    /// <summary>The loop whose current batch has run longest, if any has run past <see cref="WedgedAfter"/>.</summary>
    public (int Loop, TimeSpan Running)? Wedged()
    {
        (int, TimeSpan)? longest = null;
        var now = _time.GetTimestamp();
        for (var i = 0; i < _loops.Length; i++)
        {
            var since = _loops[i].BusySince;
            if (since != EpollLoop.Idle && _time.GetElapsedTime(since, now) is var running && running >= WedgedAfter
                && (longest is not { } l || running > l.Item2))
            {
                longest = (i, running);
            }
        }

        return longest;
    }

    /// <summary>Tells <paramref name="observer"/> of every stall and failure until the returned handle is disposed.</summary>
    public IDisposable Subscribe(IEpollLoopObserver observer)
    {
        lock (_sync)
        {
            _observers = [.. _observers, observer];
        }

        return new Subscription(this, observer);
    }

    /// <summary>On the loop thread, after a batch that ran past <see cref="StallThreshold"/>.</summary>
    public void BatchEnded(EpollLoop loop, long start, long ticks)
    {
        var i = loop.Index;
        var toldRunning = !Count(i, start);
        Interlocked.Add(ref _stalledTicks[i], ticks);
        var stall = new LoopStall(i, _time.GetElapsedTime(0, ticks), toldRunning ? LoopStallPhase.EndedAfterWarning : LoopStallPhase.Ended);

        // The observers log: never on the loop, which has waited long enough.
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.Watchdog.Publish(s.Stall), (Watchdog: this, Stall: stall), preferLocal: false);
    }

    /// <summary>On the loop thread: a handler or work item threw, and the loop caught it.</summary>
    public void Failed(EpollLoop loop, Exception exception) =>
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.Watchdog.Publish(s.Loop, s.Exception), (Watchdog: this, Loop: loop.Index, Exception: exception), preferLocal: false);

    public void Dispose() => _timer.Dispose();

    private void Check()
    {
        var now = _time.GetTimestamp();
        for (var i = 0; i < _loops.Length; i++)
        {
            var since = _loops[i].BusySince;
            if (since == EpollLoop.Idle)
            {
                continue;
            }

            var running = _time.GetElapsedTime(since, now);
            if (running >= StallThreshold && Count(i, since))
            {
                Publish(new LoopStall(i, running, LoopStallPhase.Running));
            }

            if (running >= WedgedAfter && Interlocked.Exchange(ref _wedged[i], since) != since)
            {
                Publish(new LoopStall(i, running, LoopStallPhase.Wedged));
            }
        }
    }

    /// <summary>Counts the stall that began at <paramref name="start"/> unless it was counted already; whether this call counted it.</summary>
    private bool Count(int loop, long start)
    {
        if (Interlocked.Exchange(ref _counted[loop], start) == start)
        {
            return false;
        }

        Interlocked.Increment(ref _stalls[loop]);
        return true;
    }

    private void Publish(LoopStall stall)
    {
        foreach (var observer in Volatile.Read(ref _observers))
        {
            try
            {
                observer.OnStall(stall);
            }
            catch (Exception)
            {
                // An observer that fails loses its report; the watchdog and the other observers go on.
            }
        }
    }

    private void Publish(int loop, Exception exception)
    {
        foreach (var observer in Volatile.Read(ref _observers))
        {
            try
            {
                observer.OnFailure(loop, exception);
            }
            catch (Exception)
            {
                // As above.
            }
        }
    }

    private sealed class Subscription(EpollLoopWatchdog watchdog, IEpollLoopObserver observer) : IDisposable
    {
        public void Dispose()
        {
            lock (watchdog._sync)
            {
                watchdog._observers = Array.FindAll(watchdog._observers, o => !ReferenceEquals(o, observer));
            }
        }
    }
}
