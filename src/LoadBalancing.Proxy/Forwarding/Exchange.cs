using LoadBalancing.Proxy.Upstream;
using Microsoft.Extensions.ObjectPool;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>
/// The per-request cancellation of one proxied exchange: a timeout (re-armed per phase on the cluster's
/// <see cref="TimeProvider"/>) and the client going away both cancel <see cref="Token"/>. Pooled, so a
/// request costs no token source.
/// </summary>
/// <remarks>
/// The timer is lazy: re-arming records when the token is due and moves the timer only when that is sooner than the
/// timer is set for. A later due date waits for the timer to fire, which then sets it again for the due date in
/// force. Requests re-arm for each phase and most phases end long before their timeout, so in steady state a request
/// moves no timer at all; moving one takes the runtime's timer-queue lock, three times a request before.
/// </remarks>
internal sealed class Exchange : IDisposable
{
    private const long NotDue = long.MaxValue;

    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    private readonly Lock _sync = new();
    private readonly long _earlyTolerance;
    private CancellationTokenSource _cts;

    // When Token is due to be cancelled, and when the timer fires next (TimeProvider timestamps; NotDue for never).
    // Each is written with a full fence before the other is read (see SetDue and OnTimer), so a due date set while the
    // timer fires is seen by one of them.
    private long _due = NotDue;
    private long _timerDue = NotDue;
    private CancellationTokenRegistration _clientAborted;
    private volatile bool _headersReceived;
    private volatile bool _requestBodyFailed;

    public Exchange(TimeProvider time)
    {
        _time = time;
        _cts = new CancellationTokenSource();

        // Timers fire up to a millisecond before a timestamp says so; within that, a due date counts as reached.
        _earlyTolerance = time.TimestampFrequency / 1000;

        // The timer outlives the request that made the exchange: it must not hold on to that request's context.
        if (ExecutionContext.IsFlowSuppressed())
        {
            _timer = CreateTimer(time);
        }
        else
        {
            using (ExecutionContext.SuppressFlow())
            {
                _timer = CreateTimer(time);
            }
        }
    }

    private ITimer CreateTimer(TimeProvider time) =>
        time.CreateTimer(static state => ((Exchange)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

    public CancellationToken Token => _cts.Token;

    /// <summary>The endpoints this request has tried (kept here, not in the request's state machine, which is allocated per request).</summary>
    public TriedEndpoints Tried;

    // The request's other multi-word state lives here too, for the same reason: the forwarder's state machine
    // box is the one allocation per request, and every field moved out of it shrinks it.
    public PickContext PickContext;

    /// <summary>The endpoint the request's affinity cookie names (its <see cref="BackendEndpoint.AffinityKey"/>), if any.</summary>
    public ulong? SessionKey;
    public PickResult Pick;
    public ResponseHead Head;
    public AttemptOutcome Last;

    // What the access log reports; cheap enough to keep whether or not it is on.
    public long BytesIn;
    public long BytesOut;
    public int Attempts;
    public string? Upstream;
    public int UpstreamStatus;
    public TimeSpan UpstreamTime;

    /// <summary>Set for a request to be logged; the access log reads the fields above when the request ends.</summary>
    public AccessLog.AccessLogWriter? AccessLog;
    public long RequestStarted;

    /// <summary>The running attempt's tracing span; null when nothing traces it (<see cref="AttemptTracing"/>).</summary>
    public System.Diagnostics.Activity? Span;

    /// <summary>The trace of the request's spans, for the access log when the host made no span of its own.</summary>
    public System.Diagnostics.ActivityTraceId TraceId;

    /// <summary>Why the proxy answered itself when <see cref="Last"/> does not say (a malformed request body).</summary>
    public string? Reason;

    /// <summary>The route that chose the cluster (null when forwarded without one).</summary>
    public Routing.ProxyRoute? Route;

    /// <summary>The retry policy in force: the route's, else the cluster's default.</summary>
    public RetryPolicy Retry = null!;

    /// <summary>Slots of the cluster's retry budget this request holds until it ends.</summary>
    public int RetrySlots;

    /// <summary>The response-header timeout in force: the route's, else the cluster's.</summary>
    public TimeSpan ResponseHeaderTimeout;

    /// <summary>When the route's request timeout passes (a <see cref="TimeProvider"/> timestamp); 0 for none.</summary>
    public long Deadline;

    // The timer in force was cut to the deadline: when it fires, the deadline is what passed, even if the timer's
    // millisecond granularity fired it a moment before the timestamp says so.
    private bool _armedToDeadline;

    /// <summary>
    /// Whether the response head has arrived: after that the request body no longer re-arms the timer, and a
    /// failure is not retried. An attempt is only retried before a head arrived, so it stays false until then.
    /// </summary>
    public bool HeadersReceived
    {
        get => _headersReceived;
        set => _headersReceived = value;
    }

    /// <summary>Whether reading the client's request body failed (the client's fault, not the upstream's).</summary>
    public bool RequestBodyFailed => _requestBodyFailed;

    public void Start(CancellationToken requestAborted)
    {
        _headersReceived = false;
        _requestBodyFailed = false;
        Tried = default;
        Pick = default;
        Head = default;
        Last = AttemptOutcome.Success;
        BytesIn = 0;
        BytesOut = 0;
        Attempts = 0;
        Upstream = null;
        UpstreamStatus = 0;
        UpstreamTime = TimeSpan.MinValue;
        Reason = null;
        Span = null;
        TraceId = default;
        RetrySlots = 0;
        Deadline = 0;
        _armedToDeadline = false;
        _clientAborted = requestAborted.UnsafeRegister(static s => ((Exchange)s!).CancelNow(), this);
    }

    /// <summary>
    /// Cancels <see cref="Token"/> after <paramref name="timeout"/> unless re-armed first; never later than the
    /// route's request deadline.
    /// </summary>
    public void Arm(TimeSpan timeout)
    {
        _armedToDeadline = false;
        var now = _time.GetTimestamp();
        var due = timeout == Timeout.InfiniteTimeSpan ? NotDue : now + ToTimestamp(timeout);
        if (Deadline != 0)
        {
            if (Deadline <= now)
            {
                CancelNow();
                return;
            }

            if (due > Deadline)
            {
                due = Deadline;
                _armedToDeadline = true;
            }
        }

        SetDue(due, now);
    }

    private void SetDue(long due, long now)
    {
        Interlocked.Exchange(ref _due, due);
        if (due >= Volatile.Read(ref _timerDue))
        {
            return; // the timer fires first, and sets itself again for this
        }

        lock (_sync)
        {
            // The timer may have fired meanwhile and been set for this due date, or a later one.
            if (due < _timerDue && due == Volatile.Read(ref _due))
            {
                _timerDue = due;
                _timer.Change(ToTimeSpan(Math.Max(due - now, 0)), Timeout.InfiniteTimeSpan);
            }
        }
    }

    private void OnTimer()
    {
        lock (_sync)
        {
            Interlocked.Exchange(ref _timerDue, NotDue);
            var due = Volatile.Read(ref _due);
            if (due == NotDue)
            {
                return;
            }

            var remaining = due - _time.GetTimestamp();
            if (remaining <= _earlyTolerance)
            {
                // Under the lock, so that Reset cannot hand the token source to another request in between.
                CancelNow();
                return;
            }

            _timerDue = due;
            _timer.Change(ToTimeSpan(remaining), Timeout.InfiniteTimeSpan);
        }
    }

    private long ToTimestamp(TimeSpan timeout) =>
        timeout <= TimeSpan.Zero ? 0 : (long)Math.Min(timeout.TotalSeconds * _time.TimestampFrequency, long.MaxValue / 2.0);

    private TimeSpan ToTimeSpan(long timestampTicks) =>
        TimeSpan.FromTicks((long)Math.Min(timestampTicks * ((double)TimeSpan.TicksPerSecond / _time.TimestampFrequency), TimeSpan.MaxValue.Ticks / 2.0));

    /// <summary>Starts the route's request timeout, which bounds every later <see cref="Arm"/>.</summary>
    public void SetDeadline(TimeSpan timeout) =>
        Deadline = _time.GetTimestamp() + ToTimestamp(timeout);

    /// <summary>Brings the deadline forward to <paramref name="timeout"/> from now if that is sooner; true when it did.</summary>
    public bool TightenDeadline(TimeSpan timeout)
    {
        var deadline = _time.GetTimestamp() + ToTimestamp(timeout);
        if (Deadline != 0 && Deadline <= deadline)
        {
            return false;
        }

        Deadline = deadline;
        return true;
    }

    /// <summary>Whether the route's request timeout has passed.</summary>
    public bool DeadlinePassed =>
        Deadline != 0 && (_time.GetTimestamp() >= Deadline || (_armedToDeadline && _cts.IsCancellationRequested));

    /// <summary>Ends the exchange now (for example to stop a request body still being sent).</summary>
    public void Cancel() => CancelNow();

    public void FailRequestBody()
    {
        _requestBodyFailed = true;
        CancelNow();
    }

    private void CancelNow()
    {
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The exchange already ended.
        }
    }

    /// <summary>Makes the exchange ready for another request.</summary>
    public void Reset()
    {
        AccessLog = null;
        Route = null;
        Retry = null!;
        _clientAborted.Dispose();
        lock (_sync)
        {
            // The timer stays set: when it fires it finds nothing due, or the next request's due date.
            Interlocked.Exchange(ref _due, NotDue);
            if (!_cts.TryReset())
            {
                _cts.Dispose();
                _cts = new CancellationTokenSource();
            }
        }
    }

    public void Dispose()
    {
        _clientAborted.Dispose();
        _timer.Dispose();
        _cts.Dispose();
    }

    /// <summary>
    /// A pool of exchanges that keeps up to <paramref name="maxRetained"/> and disposes the ones it cannot keep: a
    /// dropped exchange's timer is still set (timers are lazy) and would keep it alive until it fires.
    /// </summary>
    public static ObjectPool<Exchange> CreatePool(TimeProvider time, int maxRetained) =>
        new DefaultObjectPoolProvider { MaximumRetained = maxRetained }.Create(new Policy(time));

    /// <summary>Creates and recycles exchanges for an <see cref="ObjectPool{T}"/>.</summary>
    internal sealed class Policy(TimeProvider time) : PooledObjectPolicy<Exchange>
    {
        public override Exchange Create() => new(time);

        public override bool Return(Exchange obj)
        {
            obj.Reset();
            return true;
        }
    }
}
