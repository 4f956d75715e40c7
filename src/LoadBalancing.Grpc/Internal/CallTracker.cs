using Grpc.Net.Client.Balancer;

namespace LoadBalancing.Grpc.Internal;

/// <summary>
/// One call's pick: grpc-dotnet reports the start and the arrival of the response headers (or the send's exception)
/// here, and <see cref="LoadBalancingFeedbackHandler"/>, when the channel has it, reports the call's gRPC status.
/// Whichever ends the call first completes the core pick; later reports are ignored.
/// </summary>
internal sealed class CallTracker : ISubchannelCallTracker
{
    public static readonly HttpRequestOptionsKey<CallTracker> Key = new("LoadBalancing.Grpc.CallTracker");

    private readonly PickResult _pick;
    private readonly TimeProvider _time;
    private readonly long _picked;
    private int _done;
    private volatile bool _started;
    private volatile bool _observed;

    public CallTracker(PickResult pick, TimeProvider time)
    {
        _pick = pick;
        _time = time;
        _picked = time.GetTimestamp();
    }

    /// <summary>The core pick (for tests).</summary>
    public PickResult Pick => _pick;

    /// <summary>Whether the feedback handler follows this call (it then reports the outcome).</summary>
    public bool Observed => _observed;

    public void Start() => _started = true;

    public void Complete(CompletionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);

        // grpc-dotnet calls this when the response headers arrive, before the gRPC status is known (it is in the
        // trailers, or in the headers of a trailers-only response, neither of which the context carries). Without the
        // feedback handler, a response is the best evidence there is; with it, the handler reports the real outcome.
        if (context.Error is not null)
        {
            Finish(success: false, Elapsed());
        }
        else if (!_observed)
        {
            Finish(success: true, Elapsed());
        }
    }

    public void Observe() => _observed = true;

    public TimeSpan Elapsed() => _time.GetElapsedTime(_picked);

    public void Finish(bool success, TimeSpan latency)
    {
        if (Interlocked.Exchange(ref _done, 1) == 0)
        {
            _pick.Complete(success, latency);
        }
    }

    /// <summary>
    /// Gives the pick back when grpc-dotnet did not use it: the subchannel stopped being ready between the picker's
    /// build and the pick, so the call is picked again (with the same request) and this one never starts.
    /// </summary>
    public void ReleaseIfUnused()
    {
        if (!_started && Interlocked.Exchange(ref _done, 1) == 0)
        {
            _pick.Release();
        }
    }
}
