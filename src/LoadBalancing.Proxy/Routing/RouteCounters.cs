namespace LoadBalancing.Proxy.Routing;

/// <summary>
/// Requests a route answered, by <see cref="Metrics.StatusCodeLabels"/> slot (the class, 5xx by exact code; slot 0: no
/// response, the client left). One per route
/// name, carried from the configuration in service to the next while the name stays, so a reload does not reset the
/// route's series; a request counts with one interlocked increment on the route it already holds.
/// </summary>
internal sealed class RouteCounters
{
    private readonly long[] _bySlot = new long[Metrics.StatusCodeLabels.Count];

    /// <summary>Requests counted in one <see cref="Metrics.StatusCodeLabels"/> slot.</summary>
    public long RequestsIn(int slot) => Volatile.Read(ref _bySlot[slot]);

    /// <param name="statusCode">The status answered; 0 when the client left first.</param>
    public void Ended(int statusCode)
    {
        Interlocked.Increment(ref _bySlot[Metrics.StatusCodeLabels.Slot(statusCode)]);
    }
}
