using LoadBalancing.Internal;

namespace LoadBalancing;

// Passive outlier detection: this balancer's failure counts and ejections of the endpoints in its source.
public sealed partial class Balancer
{
    /// <summary>
    /// Outlier detection's record of an endpoint in this balancer: consecutive failures, ejections and their backoff.
    /// Each balancer keeps its own, so balancers over one source with different outlier settings never eject for each
    /// other. Takes the build lock briefly; for admin views, not for every request.
    /// </summary>
    /// <param name="state">The endpoint's state, from <see cref="EndpointSource.Current"/>.</param>
    /// <returns>The record, or <c>null</c> when the endpoint is not (or no longer) in this balancer's view of the source.</returns>
    public OutlierState? GetOutlierState(EndpointState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        lock (_buildLock)
        {
            return _outliers.GetValueOrDefault(state);
        }
    }

    /// <summary>
    /// Takes over <paramref name="predecessor"/>'s outlier detection verdicts (consecutive failures, ejections and their
    /// backoff) for the endpoints both balancers see, for a balancer that replaces another over the same source, for
    /// example after the cluster's options changed: an endpoint ejected under the old options stays ejected until its
    /// ejection runs out. Call it before the new balancer takes traffic; the predecessor's later completions stay its own.
    /// </summary>
    /// <param name="predecessor">The balancer this one replaces; a balancer over another source has nothing to give, and
    /// nothing is taken when this balancer's outlier detection is off.</param>
    public void InheritOutlierState(Balancer predecessor)
    {
        ArgumentNullException.ThrowIfNull(predecessor);
        if (ReferenceEquals(predecessor, this) || !ReferenceEquals(predecessor._source, _source) || !_options.OutlierDetection.Enabled)
        {
            return;
        }

        KeyValuePair<EndpointState, OutlierState>[] theirs;
        lock (predecessor._buildLock)
        {
            theirs = predecessor._outliers.ToArray();
        }

        lock (_buildLock)
        {
            if (_disposed)
            {
                return;
            }

            foreach (var (state, record) in theirs)
            {
                if (_outliers.TryGetValue(state, out var mine))
                {
                    EndFailureRun(mine);
                    mine.CopyFrom(record);
                    if (mine.ConsecutiveFailures != 0)
                    {
                        Interlocked.Increment(ref _failureRuns);
                    }
                }
            }

            Rebuild();
        }
    }

    /// <summary>Zeroes the endpoint's consecutive failures; the transition from nonzero is counted once, whoever wins it.</summary>
    private void EndFailureRun(OutlierState outlier)
    {
        if (Interlocked.Exchange(ref outlier.ConsecutiveFailuresCell, 0) != 0)
        {
            Interlocked.Decrement(ref _failureRuns);
        }
    }

    private void TryEject(OutlierState outlier)
    {
        // Ejection is rare; it rebuilds the picker on this thread, under the build lock only
        // builders take, so picks carry on with the old picker meanwhile.
        lock (_buildLock)
        {
            var now = _time.GetUtcNow();
            if (_disposed || outlier.IsEjectedAt(now) || Volatile.Read(ref outlier.ConsecutiveFailuresCell) < _options.OutlierDetection.ConsecutiveFailures)
            {
                return;
            }

            // A pick made before the endpoint left the source may complete after: its record is no longer this
            // balancer's, and ejecting it would count against the cap for nothing.
            var set = _source.Current;
            var member = _outliers.TryGetValue(outlier.State, out var current) && ReferenceEquals(current, outlier)
                && Array.IndexOf(set.StateArray, outlier.State) >= 0;
            var ejected = 0;
            foreach (var state in set.StateArray)
            {
                if (_outliers.TryGetValue(state, out var record) && record.IsEjectedAt(now))
                {
                    ejected++;
                }
            }

            // One endpoint can always be ejected; more only while under the cap.
            if (!member || (ejected > 0 && ejected * 100.0 >= _options.OutlierDetection.MaxEjectionPercent * set.Count))
            {
                return;
            }

            var reason = ConsecutiveFailuresReason(_options.OutlierDetection.ConsecutiveFailures);
            EndFailureRun(outlier);
            outlier.Eject(now, _options.OutlierDetection.BaseEjectionTime, _options.OutlierDetection.MaxEjectionTime, reason);
            if (Changed is { } changed)
            {
                var index = Array.IndexOf(set.StateArray, outlier.State);
                changed(new BalancerChange(BalancerChangeKind.EndpointEjected, now, set.EndpointArray[index], reason, outlier.EjectedUntil));
            }

            Rebuild();
        }
    }

    private static string ConsecutiveFailuresReason(int failures) => failures == 1 ? "1 consecutive failure" : $"{failures} consecutive failures";

    /// <summary>
    /// The outlier record of each endpoint in <paramref name="states"/>, aligned with it: kept for endpoints that stay,
    /// new for those that joined; the records of endpoints that left are dropped (their states are never seen again).
    /// </summary>
    private OutlierState[] OutliersOf(EndpointState[] states)
    {
        var records = new OutlierState[states.Length];
        for (var i = 0; i < states.Length; i++)
        {
            if (!_outliers.TryGetValue(states[i], out var record))
            {
                record = new OutlierState(states[i], _totalInFlight is null ? null : new LoadCounter());
                _outliers.Add(states[i], record);
            }

            records[i] = record;
        }

        if (_outliers.Count > states.Length)
        {
            var current = new HashSet<EndpointState>(states, ReferenceEqualityComparer.Instance);
            foreach (var state in _outliers.Keys.ToArray())
            {
                if (!current.Contains(state) && _outliers.Remove(state, out var gone))
                {
                    EndFailureRun(gone);
                }
            }
        }

        return records;
    }
}
