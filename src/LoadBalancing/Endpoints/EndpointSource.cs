namespace LoadBalancing;

/// <summary>
/// The current endpoints of one cluster. Discovery (or static config) publishes whole lists;
/// readers take the current <see cref="EndpointSet"/> with a single volatile read. It also carries
/// the freshness of the view: when it last changed and when discovery last confirmed it.
/// </summary>
public sealed class EndpointSource
{
    private readonly Lock _publishLock = new();
    private readonly TimeProvider _time;
    private volatile EndpointSet _current = EndpointSet.Empty;
    private volatile IReadOnlyList<EndpointOrigin> _origins = [];
    private Action<EndpointSet>[] _subscribers = [];
    private long _lastConfirmedUtcTicks;
    private int _problem;

    /// <summary>Creates an empty source.</summary>
    /// <param name="name">The cluster name, for logs and the admin view.</param>
    /// <param name="timeProvider">The clock; defaults to <see cref="TimeProvider.System"/>.</param>
    public EndpointSource(string name, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The cluster name.</summary>
    public string Name { get; }

    /// <summary>The current snapshot.</summary>
    public EndpointSet Current => _current;

    /// <summary>The current version (0 before the first publish).</summary>
    public long Version => _current.Version;

    /// <summary>
    /// What the latest publish was built from, as its publisher described it (for Kubernetes discovery, the
    /// EndpointSlices with their resourceVersions); empty when the publisher gave no description. Read for diagnostics
    /// only: while a publish is under way it may describe that publish before <see cref="Current"/> shows it.
    /// </summary>
    public IReadOnlyList<EndpointOrigin> Origins => _origins;

    /// <summary>When the endpoint list last changed, or <c>null</c> before the first publish.</summary>
    public DateTimeOffset? LastChanged => _current.Version == 0 ? null : _current.Created;

    /// <summary>
    /// When discovery last confirmed the view was current (a publish, a relist that found no change,
    /// or a watch bookmark), or <c>null</c> if it never has.
    /// </summary>
    public DateTimeOffset? LastConfirmed
    {
        get
        {
            var ticks = Volatile.Read(ref _lastConfirmedUtcTicks);
            return ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
        }
    }

    /// <summary>How long since discovery last confirmed the view, or <c>null</c> if it never has.</summary>
    /// <returns>The age of the view.</returns>
    public TimeSpan? Staleness()
    {
        var confirmed = LastConfirmed;
        return confirmed is null ? null : _time.GetUtcNow() - confirmed.Value;
    }

    /// <summary>
    /// Replaces the endpoint list. Endpoints that stay keep their state. Publishing the same list
    /// again only confirms it (no new version).
    /// </summary>
    /// <param name="endpoints">The complete new list, in any order.</param>
    /// <returns>The set now current.</returns>
    /// <exception cref="ArgumentException">The list names the same endpoint (or the same hash key) twice.</exception>
    public EndpointSet Publish(IEnumerable<BackendEndpoint> endpoints) => Publish(endpoints, []);

    /// <summary>
    /// Replaces the endpoint list, as <see cref="Publish(IEnumerable{BackendEndpoint})"/> does, and records what it was
    /// built from (<see cref="Origins"/>). The origins are recorded even when the list is unchanged, so they follow
    /// every change of the objects the publisher read.
    /// </summary>
    /// <param name="endpoints">The complete new list, in any order.</param>
    /// <param name="origins">The objects the list was built from, e.g. the EndpointSlices of a Service.</param>
    /// <returns>The set now current.</returns>
    /// <exception cref="ArgumentException">The list names the same endpoint (or the same hash key) twice.</exception>
    public EndpointSet Publish(IEnumerable<BackendEndpoint> endpoints, IReadOnlyList<EndpointOrigin> origins)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(origins);
        var sorted = endpoints.ToArray();
        Array.Sort(sorted, BackendEndpoint.CompareIdentity);
        ValidateUnique(sorted);

        EndpointSet next;
        Action<EndpointSet>[] subscribers;
        lock (_publishLock)
        {
            var now = _time.GetUtcNow();
            var previous = _current;
            _origins = origins;
            Volatile.Write(ref _lastConfirmedUtcTicks, now.UtcTicks);
            if (SameEndpoints(previous.EndpointArray, sorted))
            {
                return previous;
            }

            var states = CarryStates(previous, sorted, now);
            next = new EndpointSet(previous.Version + 1, sorted, states, now);
            _current = next;
            subscribers = _subscribers;
        }

        foreach (var subscriber in subscribers)
        {
            subscriber(next);
        }

        return next;
    }

    /// <summary>Records that discovery confirmed the current list is still accurate.</summary>
    public void Confirm()
    {
        Volatile.Write(ref _problem, (int)ConfirmationProblem.None);
        Volatile.Write(ref _lastConfirmedUtcTicks, _time.GetUtcNow().UtcTicks);
    }

    /// <summary>Why discovery's latest attempt to confirm the list failed; <see cref="ConfirmationProblem.None"/> after a confirmation.</summary>
    public ConfirmationProblem LastConfirmationProblem => (ConfirmationProblem)Volatile.Read(ref _problem);

    /// <summary>
    /// Records why discovery's latest attempt to confirm the list failed. The list stays as it is; readers decide
    /// what an unconfirmed list means from <see cref="Staleness"/> and this cause.
    /// </summary>
    /// <param name="problem">The cause.</param>
    public void ReportConfirmationProblem(ConfirmationProblem problem) => Volatile.Write(ref _problem, (int)problem);

    /// <summary>
    /// Calls <paramref name="onChanged"/> after every publish that changes the list, on the
    /// publishing thread. Subscribers should read <see cref="Current"/> if they need the latest set,
    /// since publishes on different threads may deliver out of order.
    /// </summary>
    /// <param name="onChanged">The callback.</param>
    /// <returns>Disposing it unsubscribes.</returns>
    public IDisposable Subscribe(Action<EndpointSet> onChanged)
    {
        ArgumentNullException.ThrowIfNull(onChanged);
        lock (_publishLock)
        {
            _subscribers = [.. _subscribers, onChanged];
        }

        return new Subscription(this, onChanged);
    }

    private void Unsubscribe(Action<EndpointSet> onChanged)
    {
        lock (_publishLock)
        {
            _subscribers = Array.FindAll(_subscribers, s => s != onChanged);
        }
    }

    private static void ValidateUnique(BackendEndpoint[] endpoints)
    {
        // The array is sorted by identity, so a duplicate sits next to its twin.
        for (var i = 1; i < endpoints.Length; i++)
        {
            if (endpoints[i].Equals(endpoints[i - 1]))
            {
                throw new ArgumentException($"endpoints: '{endpoints[i]}' appears more than once in one publish.", nameof(endpoints));
            }
        }

        var keys = new HashSet<string>(endpoints.Length, StringComparer.Ordinal);
        foreach (var endpoint in endpoints)
        {
            if (!keys.Add(endpoint.HashKey))
            {
                throw new ArgumentException($"endpoints: hash key '{endpoint.HashKey}' is used by more than one endpoint (one of them is '{endpoint}').", nameof(endpoints));
            }
        }
    }

    private static bool SameEndpoints(BackendEndpoint[] a, BackendEndpoint[] b)
    {
        if (a.Length != b.Length)
        {
            return false;
        }

        for (var i = 0; i < a.Length; i++)
        {
            if (!a[i].SameAttributes(b[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static EndpointState[] CarryStates(EndpointSet previous, BackendEndpoint[] sorted, DateTimeOffset now)
    {
        // Both arrays are in identity order, so one merge walk pairs the survivors.
        var states = new EndpointState[sorted.Length];
        var old = previous.EndpointArray;
        var initial = previous.Version == 0;
        var j = 0;
        for (var i = 0; i < sorted.Length; i++)
        {
            while (j < old.Length && BackendEndpoint.CompareIdentity(old[j], sorted[i]) < 0)
            {
                j++;
            }

            states[i] = j < old.Length && old[j].Equals(sorted[i])
                ? previous.StateArray[j]
                : new EndpointState(now, initial);
        }

        return states;
    }

    private sealed class Subscription(EndpointSource source, Action<EndpointSet> onChanged) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                source.Unsubscribe(onChanged);
            }
        }
    }
}
