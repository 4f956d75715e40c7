namespace LoadBalancing.Proxy.Routing;

/// <summary>
/// Requests a route answered, by status class (index 0: no response, the client left; 1–5: 1xx–5xx). One per route
/// name, carried from the configuration in service to the next while the name stays, so a reload does not reset the
/// route's series; a request counts with one interlocked increment on the route it already holds.
/// </summary>
internal sealed class RouteCounters
{
    private readonly long[] _byClass = new long[6];

    public long Requests(int statusClass) => Volatile.Read(ref _byClass[statusClass]);

    /// <param name="statusCode">The status answered; 0 when the client left first.</param>
    public void Ended(int statusCode)
    {
        var statusClass = statusCode / 100;
        Interlocked.Increment(ref _byClass[statusClass is >= 1 and <= 5 ? statusClass : 0]);
    }
}
