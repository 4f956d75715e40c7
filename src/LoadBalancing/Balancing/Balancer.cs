using System.Globalization;
using LoadBalancing.Algorithms;
using LoadBalancing.Internal;

namespace LoadBalancing;

/// <summary>
/// Picks endpoints of one cluster. On every change of its source (and of endpoint health) it
/// builds an immutable picker off the hot path and swaps it in with one reference write;
/// <see cref="Pick(in PickContext)"/> reads it once and never locks, allocates or throws.
/// </summary>
public sealed partial class Balancer : IDisposable
{
    private readonly Lock _buildLock = new();
    private readonly EndpointSource _source;
    private readonly BalancerOptions _options;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly EwmaClock _clock;
    private readonly LoadCounter? _totalInFlight;
    private readonly OutlierState? _fallback;
    private readonly bool _perThreadRoundRobin;
    private readonly IDisposable _subscription;
    private readonly ITimer _timer;

    // Active health as reported through SetHealth, by endpoint state; read and written under the build lock only.
    // Kept per balancer, not on EndpointState: two balancers over one source may check health differently.
    private readonly Dictionary<EndpointState, HealthReport> _health = new(ReferenceEqualityComparer.Instance);

    // Outlier detection's record of each endpoint in the source, by endpoint state; created and dropped under the build
    // lock as endpoints come and go. Per balancer for the same reason as health: the verdict is the balancer's.
    private readonly Dictionary<EndpointState, OutlierState> _outliers = new(ReferenceEqualityComparer.Instance);

    // How many endpoints have a failure run going (consecutive failures above zero): each record's step from zero
    // counts up and its step back, taken atomically by whoever wins it, counts down. It can only overcount, by a run
    // that started on a record after its endpoint left (a pick completing late), which costs a look at records, nothing else.
    private int _failureRuns;
    private volatile Picker _picker;
    private volatile BalancerStatus _status;
    private bool _disposed;

    /// <summary>Creates a balancer over <paramref name="source"/> and builds its first picker.</summary>
    /// <param name="source">The endpoints to balance over.</param>
    /// <param name="options">The algorithm and its settings; validated here.</param>
    /// <param name="timeProvider">The clock; defaults to <see cref="TimeProvider.System"/>.</param>
    /// <param name="random">The randomness; defaults to <see cref="Random.Shared"/>. A seeded instance makes picks repeatable (single-threaded use only).</param>
    /// <exception cref="ArgumentException">The options are invalid; the message names the key and the value.</exception>
    public Balancer(EndpointSource source, BalancerOptions options, TimeProvider? timeProvider = null, Random? random = null)
        : this(source, options, timeProvider, random, perThreadRoundRobin: true)
    {
    }

    internal Balancer(EndpointSource source, BalancerOptions options, TimeProvider? timeProvider, Random? random, bool perThreadRoundRobin)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _source = source;
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
        _random = random ?? Random.Shared;
        _clock = EwmaClock.For(_time, options.PeakEwma.DecayTime);
        _perThreadRoundRobin = perThreadRoundRobin;
        if (options.HashBalanceFactor is not null)
        {
            _totalInFlight = new LoadCounter();
        }

        if (options.Fallback is not null)
        {
            _fallback = new OutlierState(new EndpointState(_time.GetUtcNow(), initialMember: true));
        }

        _picker = new EmptyPicker(new PickerInput([], [], [], [], _random, options, _clock, null));
        _status = new BalancerStatus(0, 0, 0, 0, 0, 0, 0, false, false, _time.GetUtcNow());
        _timer = _time.CreateTimer(static s => ((Balancer)s!).Refresh(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _subscription = source.Subscribe(_ => Refresh());
        Refresh();
    }

    /// <summary>The cluster's endpoint source.</summary>
    public EndpointSource Source => _source;

    /// <summary>The options the balancer was built with.</summary>
    public BalancerOptions Options => _options;

    /// <summary>
    /// Raised when an endpoint is ejected or returns to service, when it turns actively unhealthy or healthy, and when the balancer enters or leaves panic mode, on
    /// the thread that made the change and under the balancer's build lock (so changes arrive in order): handlers must
    /// be quick, must not throw and must not call back into the balancer. Never raised on the pick path.
    /// </summary>
    public event Action<BalancerChange>? Changed;

    /// <summary>What the current picker was built from.</summary>
    public BalancerStatus Status => _status;

    /// <summary>Endpoints counted as having a failure run going (see <c>_failureRuns</c>).</summary>
    internal int FailureRuns => Volatile.Read(ref _failureRuns);

    /// <summary>The total requests in flight, tracked only when bounded loads is on; otherwise 0.</summary>
    internal long TotalInFlight => _totalInFlight?.Value ?? 0;

    internal Picker CurrentPicker => _picker;

    /// <summary>Picks an endpoint for one request. Thread-safe, lock-free, allocation-free.</summary>
    /// <param name="context">The request key, for hash-based algorithms.</param>
    /// <returns>The endpoint, or a result whose <see cref="PickResult.Status"/> says why there is none.</returns>
    public PickResult Pick(in PickContext context)
    {
        var picker = _picker;
        var index = picker.Pick(in context);
        if (index < 0)
        {
            return PickFallback();
        }

        picker.States[index].AddInFlight();
        if (_totalInFlight is { } total)
        {
            CountBoundedLoad(total, picker.Outliers[index]);
        }

        return new PickResult(this, picker.Endpoints[index], picker.States[index], picker.Outliers[index], PickStatus.Picked);
    }

    /// <summary>
    /// Picks a usable endpoint not in <paramref name="excluded"/>, for a retry that must go elsewhere: weighted by the
    /// endpoints' weights among those left. An algorithm asked again may keep choosing an endpoint already tried (a
    /// heavy weight, a hash key); this always finds another when there is one, in any zone when topology hints keep
    /// first picks in the balancer's own (<see cref="BalancerOptions.Zone"/>). Allocation-free; not for the first pick.
    /// </summary>
    /// <param name="excluded">The endpoints already tried.</param>
    /// <returns>The endpoint, or a <see cref="PickStatus.NoEndpoint"/> result when every usable endpoint is excluded.</returns>
    public PickResult PickExcluding(ReadOnlySpan<BackendEndpoint> excluded) => PickExcluding(excluded, int.MaxValue);

    /// <summary>
    /// As <see cref="PickExcluding(ReadOnlySpan{BackendEndpoint})"/>, among the endpoints with fewer than
    /// <paramref name="maxInFlight"/> requests in flight (<see cref="EndpointState.InFlight"/>): for a limit of requests
    /// per endpoint. The count is taken with the pick, so concurrent callers never take an endpoint past the limit.
    /// </summary>
    /// <param name="excluded">The endpoints already tried (or to avoid).</param>
    /// <param name="maxInFlight">The most requests an endpoint may have in flight, this one included; 1 or more.</param>
    /// <returns>The endpoint, or a <see cref="PickStatus.NoEndpoint"/> result when every usable endpoint is excluded or full.</returns>
    public PickResult PickExcluding(ReadOnlySpan<BackendEndpoint> excluded, int maxInFlight)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInFlight, 1);

        // With topology hints followed, a retry may leave the zone: it draws from every usable endpoint.
        var picker = _picker;
        var (endpoints, states, outliers) = picker.BeyondZone is { } beyond
            ? (beyond.Endpoints, beyond.States, beyond.Outliers)
            : (picker.Endpoints, picker.States, picker.Outliers);

        // A concurrent pick can fill the chosen endpoint between the look and the count: then look again.
        for (var round = 0; round < 4; round++)
        {
            long total = 0;
            for (var i = 0; i < endpoints.Length; i++)
            {
                if (Available(excluded, endpoints[i], states[i], maxInFlight))
                {
                    total += endpoints[i].Weight;
                }
            }

            if (total == 0)
            {
                return default;
            }

            var point = Random.Shared.NextInt64(total);
            for (var i = 0; i < endpoints.Length; i++)
            {
                if (!Available(excluded, endpoints[i], states[i], maxInFlight) || (point -= endpoints[i].Weight) >= 0)
                {
                    continue;
                }

                if (states[i].AddInFlight() > maxInFlight)
                {
                    states[i].RemoveInFlight();
                    break;
                }

                if (_totalInFlight is { } load)
                {
                    CountBoundedLoad(load, outliers[i]);
                }

                return new PickResult(this, endpoints[i], states[i], outliers[i], PickStatus.Picked);
            }
        }

        return default;
    }

    private static bool Available(ReadOnlySpan<BackendEndpoint> excluded, BackendEndpoint endpoint, EndpointState state, int maxInFlight) =>
        state.InFlight < maxInFlight && !Contains(excluded, endpoint);

    /// <summary>
    /// Picks the endpoint whose <see cref="BackendEndpoint.AffinityKey"/> is <paramref name="affinityKey"/> when the
    /// current snapshot would use it (in the set, ready, not ejected, not failing its health check; in panic mode, any
    /// endpoint of the snapshot), counting it in flight as any pick does. For session affinity: a request whose
    /// session names an endpoint goes back to it while it is usable. Lock-free and allocation-free after the first
    /// call on each snapshot (which indexes the snapshot's keys once).
    /// </summary>
    /// <param name="affinityKey">The endpoint's affinity key, as a client stored it.</param>
    /// <returns>That endpoint, or a <see cref="PickStatus.NoEndpoint"/> result when it is not usable now (then pick as usual).</returns>
    public PickResult PickAffinity(ulong affinityKey)
    {
        var picker = _picker;
        var index = picker.IndexOfAffinity(affinityKey);
        if (index < 0)
        {
            return default;
        }

        picker.States[index].AddInFlight();
        if (_totalInFlight is { } total)
        {
            CountBoundedLoad(total, picker.Outliers[index]);
        }

        return new PickResult(this, picker.Endpoints[index], picker.States[index], picker.Outliers[index], PickStatus.Picked);
    }

    private static bool Contains(ReadOnlySpan<BackendEndpoint> endpoints, BackendEndpoint endpoint)
    {
        foreach (var candidate in endpoints)
        {
            if (candidate.Equals(endpoint))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Picks an endpoint for a request without a key.</summary>
    /// <returns>The endpoint, or a result whose <see cref="PickResult.Status"/> says why there is none.</returns>
    public PickResult Pick() => Pick(PickContext.None);

    /// <summary>Rebuilds the picker now (for example after options elsewhere changed); normally not needed.</summary>
    public void Refresh()
    {
        lock (_buildLock)
        {
            if (!_disposed)
            {
                Rebuild();
            }
        }
    }

    /// <summary>
    /// Reports an endpoint's active health, for example the verdict of a health check. An endpoint takes traffic only
    /// while its conditions make it eligible (ready), it is not actively unhealthy and outlier detection has not
    /// ejected it; when fewer than <see cref="BalancerOptions.PanicThresholdPercent"/> of the eligible endpoints pass
    /// both, the balancer picks among every eligible one (panic mode). A change rebuilds the picker here, off the pick
    /// path (picks cost the same with or without health reports), and raises <see cref="Changed"/>. An endpoint no
    /// one has reported on counts as healthy unless <see cref="BalancerOptions.AssumeHealthy"/> is off. The report
    /// is forgotten when the endpoint leaves the source.
    /// </summary>
    /// <param name="state">The endpoint's state, from <see cref="EndpointSource.Current"/>.</param>
    /// <param name="healthy">Whether the endpoint may take traffic.</param>
    /// <param name="reason">Why, for logs and <see cref="BalancerChange.Reason"/> (for example <c>HTTP 503</c>).</param>
    /// <returns>Whether the endpoint's active health changed; <c>false</c> too when it is not in the current set.</returns>
    public bool SetHealth(EndpointState state, bool healthy, string? reason = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        lock (_buildLock)
        {
            var set = _source.Current;
            var index = Array.IndexOf(set.StateArray, state);
            if (_disposed || index < 0)
            {
                return false;
            }

            var was = IsHealthyLocked(state);
            _health[state] = new HealthReport(healthy, reason);
            if (was == healthy)
            {
                return false;
            }

            if (Changed is { } changed)
            {
                var kind = healthy ? BalancerChangeKind.EndpointHealthy : BalancerChangeKind.EndpointUnhealthy;
                changed(new BalancerChange(kind, _time.GetUtcNow(), set.EndpointArray[index], reason, null));
            }

            Rebuild();
            return true;
        }
    }

    /// <summary>The endpoint's active health: as last reported with <see cref="SetHealth"/>, else <see cref="BalancerOptions.AssumeHealthy"/>.</summary>
    /// <param name="state">The endpoint's state.</param>
    /// <returns>Whether active health lets the endpoint take traffic (ejection and conditions aside).</returns>
    public bool IsHealthy(EndpointState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        lock (_buildLock)
        {
            return IsHealthyLocked(state);
        }
    }

    private bool IsHealthyLocked(EndpointState state) =>
        _health.TryGetValue(state, out var report) ? report.Healthy : _options.AssumeHealthy;

    /// <summary>Stops following the source and the clock.</summary>
    public void Dispose()
    {
        lock (_buildLock)
        {
            _disposed = true;
        }

        _subscription.Dispose();
        _timer.Dispose();
    }

    // Bounded loads count the balancer's own requests, per endpoint and in total, so that a cap never mixes in the
    // requests of another balancer over the same source (see OutlierState.BoundedLoad).
    private static void CountBoundedLoad(LoadCounter total, OutlierState outlier)
    {
        total.Increment();
        outlier.BoundedLoad!.Increment();
    }

    private static void UncountBoundedLoad(LoadCounter total, OutlierState outlier)
    {
        total.Decrement();
        outlier.BoundedLoad!.Decrement();
    }

    internal void Release(EndpointState state, OutlierState outlier, bool fallback)
    {
        state.RemoveInFlight();
        if (!fallback && _totalInFlight is { } total)
        {
            UncountBoundedLoad(total, outlier);
        }
    }

    internal void Complete(EndpointState state, OutlierState outlier, bool success, TimeSpan latency, bool fallback)
    {
        state.RemoveInFlight();
        if (!fallback && _totalInFlight is { } total)
        {
            UncountBoundedLoad(total, outlier);
        }

        if (latency >= TimeSpan.Zero)
        {
            PeakEwma.Observe(ref state.CurrentEwma, latency.TotalMicroseconds, _clock, _clock.Now());
        }

        if (success)
        {
            // While no endpoint has a failure run going, a success leaves the outlier record unread: over thousands of
            // endpoints that saves a cache miss per request. Skip the write when already zero: a store would pull the
            // cache line away from other cores for nothing.
            if (Volatile.Read(ref _failureRuns) != 0 && Volatile.Read(ref outlier.ConsecutiveFailuresCell) != 0)
            {
                EndFailureRun(outlier);
            }

            return;
        }

        outlier.RecordFailureTime(_time.GetUtcNow());
        if (fallback || !_options.OutlierDetection.Enabled)
        {
            return;
        }

        var failures = Interlocked.Increment(ref outlier.ConsecutiveFailuresCell);
        if (failures == 1)
        {
            Interlocked.Increment(ref _failureRuns);
        }

        if (failures >= _options.OutlierDetection.ConsecutiveFailures)
        {
            TryEject(outlier);
        }
    }

    /// <summary>
    /// Returns the configured last-resort fallback directly, for a caller whose every attempt on the picked
    /// endpoints failed (for example a proxy after its retries), or a <see cref="PickStatus.NoEndpoint"/> result
    /// when none is configured.
    /// </summary>
    /// <returns>The fallback, counted in flight like any pick.</returns>
    public PickResult PickFallback()
    {
        var fallback = _options.Fallback;
        if (fallback is null)
        {
            return default;
        }

        _fallback!.State.AddInFlight();
        return new PickResult(this, fallback, _fallback.State, _fallback, PickStatus.Fallback);
    }

    /// <summary>
    /// Topology hints as kube-proxy applies them: when every endpoint about to be used is hinted, keep those hinted for
    /// <paramref name="zone"/>; when any is unhinted, or none is hinted for the zone, keep them all. The hints are the
    /// control plane's capacity split between zones, so following them never sends a zone more than its share.
    /// </summary>
    private static bool NarrowToZone(BackendEndpoint[] endpoints, ref List<int> chosen, string zone)
    {
        if (chosen.Count == 0 || !chosen.TrueForAll(i => endpoints[i].ForZones.Count > 0))
        {
            return false;
        }

        var local = chosen.FindAll(i => endpoints[i].ForZones.Contains(zone, StringComparer.Ordinal));
        if (local.Count == 0)
        {
            return false;
        }

        chosen = local;
        return true;
    }

    private void Rebuild()
    {
        List<BalancerChange>? changes = null;
        var set = _source.Current;
        var now = _time.GetUtcNow();
        var endpoints = set.EndpointArray;
        var states = set.StateArray;
        var outliers = OutliersOf(states);

        // Ready endpoints take traffic; when none is ready, serving (terminating) ones do, as kube-proxy does.
        var required = EndpointConditions.Ready;
        if (!Array.Exists(endpoints, static e => (e.Conditions & EndpointConditions.Ready) != 0))
        {
            required = EndpointConditions.Serving;
        }

        // The combination rule: eligible (conditions) and not actively unhealthy and not ejected is healthy; below the
        // panic threshold every eligible endpoint is used.
        var eligible = new List<int>(endpoints.Length);
        var healthy = new List<int>(endpoints.Length);
        var ejected = 0;
        var unhealthy = 0;
        var reported = 0;
        long nextEjectionEnd = long.MaxValue;
        for (var i = 0; i < endpoints.Length; i++)
        {
            if (outliers[i].TryUneject(now) && Changed is not null)
            {
                (changes ??= []).Add(new BalancerChange(BalancerChangeKind.EndpointReturned, now, endpoints[i], null, null));
            }

            var activelyHealthy = _options.AssumeHealthy;
            if (_health.Count > 0 && _health.TryGetValue(states[i], out var report))
            {
                activelyHealthy = report.Healthy;
                reported++;
            }

            if ((endpoints[i].Conditions & required) == 0)
            {
                continue;
            }

            eligible.Add(i);
            var isEjected = outliers[i].IsEjectedAt(now);
            if (isEjected)
            {
                ejected++;
                nextEjectionEnd = Math.Min(nextEjectionEnd, outliers[i].EjectedUntilUtcTicks);
            }

            if (!activelyHealthy)
            {
                unhealthy++;
            }
            else if (!isEjected)
            {
                healthy.Add(i);
            }
        }

        if (reported < _health.Count)
        {
            ForgetGoneReports(states);
        }

        var panic = eligible.Count > 0 && healthy.Count * 100.0 < _options.PanicThresholdPercent * eligible.Count;
        var chosen = panic ? eligible : healthy;
        var everyZone = chosen;
        var inZone = _options.Zone is { } zone && NarrowToZone(endpoints, ref chosen, zone);

        var usable = new BackendEndpoint[chosen.Count];
        var usableStates = new EndpointState[chosen.Count];
        var usableOutliers = new OutlierState[chosen.Count];
        var weights = new double[chosen.Count];
        var slowStartActive = false;
        var rampsUp = PickerFactory.UsesSlowStart(_options.Algorithm) && _options.SlowStart.Window > TimeSpan.Zero;
        for (var k = 0; k < chosen.Count; k++)
        {
            var i = chosen[k];
            usable[k] = endpoints[i];
            usableStates[k] = states[i];
            usableOutliers[k] = outliers[i];
            var factor = rampsUp ? SlowStartFactor(states[i], now) : 1.0;
            slowStartActive |= factor < 1.0;
            weights[k] = endpoints[i].Weight * factor;
        }

        if (slowStartActive && _options.Algorithm == LoadBalancingAlgorithm.RoundRobin)
        {
            // Round-robin needs whole weights: keep 1/16 of a weight's precision while ramping.
            for (var k = 0; k < weights.Length; k++)
            {
                weights[k] *= 16;
            }
        }

        var input = new PickerInput(usable, usableStates, usableOutliers, weights, _random, _options, _clock, _totalInFlight);
        var wasInPanic = _status.InPanic;
        var picker = PickerFactory.Create(input, _perThreadRoundRobin);
        if (inZone)
        {
            picker.BeyondZone = new PickerSet([.. everyZone.Select(i => endpoints[i])], [.. everyZone.Select(i => states[i])], [.. everyZone.Select(i => outliers[i])]);
        }

        _picker = picker;
        _status = new BalancerStatus(set.Version, endpoints.Length, eligible.Count, healthy.Count, ejected, unhealthy, usable.Length, panic, inZone, now);
        ScheduleNextRefresh(now, nextEjectionEnd, slowStartActive);
        if (Changed is { } changed)
        {
            if (panic != wasInPanic)
            {
                var reason = string.Create(CultureInfo.InvariantCulture, $"{healthy.Count} of {eligible.Count} eligible endpoints healthy, threshold {_options.PanicThresholdPercent}%");
                (changes ??= []).Add(new BalancerChange(panic ? BalancerChangeKind.PanicEntered : BalancerChangeKind.PanicLeft, now, null, reason, null));
            }

            foreach (var change in changes ?? [])
            {
                changed(change);
            }
        }
    }

    /// <summary>Drops the health reports of endpoints that left the source (their states are never seen again).</summary>
    private void ForgetGoneReports(EndpointState[] states)
    {
        var current = new HashSet<EndpointState>(states, ReferenceEqualityComparer.Instance);
        foreach (var state in _health.Keys.ToArray())
        {
            if (!current.Contains(state))
            {
                _health.Remove(state);
            }
        }
    }

    private double SlowStartFactor(EndpointState state, DateTimeOffset now)
    {
        var window = _options.SlowStart.Window;
        var age = now - state.FirstSeen;
        if (state.InitialMember || age >= window)
        {
            return 1.0;
        }

        // Envoy: weight × max(min weight percent, (time since start / window)^(1 / aggression)).
        var ramp = Math.Pow(Math.Max(age.TotalSeconds, 0) / window.TotalSeconds, 1.0 / _options.SlowStart.Aggression);
        return Math.Max(_options.SlowStart.MinWeightPercent / 100.0, ramp);
    }

    private void ScheduleNextRefresh(DateTimeOffset now, long nextEjectionEndUtcTicks, bool slowStartActive)
    {
        var due = Timeout.InfiniteTimeSpan;
        if (nextEjectionEndUtcTicks != long.MaxValue)
        {
            due = TimeSpan.FromTicks(Math.Max(1, nextEjectionEndUtcTicks - now.UtcTicks));
        }

        if (slowStartActive)
        {
            // Ramp in about twenty steps, at most one a second.
            var step = TimeSpan.FromTicks(Math.Min(TimeSpan.TicksPerSecond, Math.Max(1, _options.SlowStart.Window.Ticks / 20)));
            due = due == Timeout.InfiniteTimeSpan || step < due ? step : due;
        }

        _timer.Change(due, Timeout.InfiniteTimeSpan);
    }

    private readonly record struct HealthReport(bool Healthy, string? Reason);
}
