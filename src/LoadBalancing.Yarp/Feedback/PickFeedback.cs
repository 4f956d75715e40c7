using System.Diagnostics;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace LoadBalancing.Yarp.Feedback;

/// <summary>
/// The request's pick, kept in <c>HttpContext.Features</c> from the policy's pick to the end of the request, where
/// <see cref="FeedbackMiddleware"/> reports the outcome. One per request; present only when the middleware runs.
/// </summary>
internal sealed class PickFeedback
{
    private PickResult _pick;
    private DestinationState? _destination;
    private long _picked;

    public DestinationState? Destination => _destination;

    /// <summary>Keeps a pick; a pick made earlier in the same request (a second balancing pass) is given back unused.</summary>
    public void Set(PickResult pick, DestinationState destination)
    {
        if (_destination is not null)
        {
            _pick.Release();
        }

        _pick = pick;
        _destination = destination;

        // Latency runs from the pick, so a rebuild of the endpoint set before it, or slow middleware, counts for nothing.
        _picked = Stopwatch.GetTimestamp();
    }

    /// <summary>Reports the outcome, or gives the pick back when the request did not reach the picked destination.</summary>
    public void Finish(DestinationState? proxied, int statusCode, IForwarderErrorFeature? error)
    {
        var destination = _destination;
        if (destination is null)
        {
            return;
        }

        _destination = null;
        var elapsed = Stopwatch.GetElapsedTime(_picked);
        if (!ReferenceEquals(proxied, destination))
        {
            // Never forwarded, or forwarded elsewhere: nothing about this destination was learnt.
            _pick.Release();
        }
        else if (error is null || error.Error == ForwarderError.None)
        {
            _pick.Complete(statusCode < 500, elapsed);
        }
        else if (IsDestinationFault(error.Error))
        {
            _pick.Complete(success: false, elapsed);
        }
        else
        {
            // The client went away or cancelled: not the destination's fault, and the time says nothing about it.
            _pick.Release();
        }

        _pick = default;
    }

    /// <summary>The request failed with an exception before any outcome was known.</summary>
    public void Abandon(DestinationState? proxied)
    {
        var destination = _destination;
        if (destination is null)
        {
            return;
        }

        _destination = null;
        var elapsed = Stopwatch.GetElapsedTime(_picked);
        if (ReferenceEquals(proxied, destination))
        {
            _pick.Complete(success: false, elapsed);
        }
        else
        {
            _pick.Release();
        }

        _pick = default;
    }

    internal static bool IsDestinationFault(ForwarderError error) => error is
        ForwarderError.Request
        or ForwarderError.RequestTimedOut
        or ForwarderError.RequestBodyDestination
        or ForwarderError.ResponseHeaders
        or ForwarderError.ResponseBodyDestination
        or ForwarderError.UpgradeRequestDestination
        or ForwarderError.UpgradeResponseDestination;
}
