using LoadBalancing.Internal;

namespace LoadBalancing;

/// <summary>How a cluster's balancer picks endpoints. Validate with <see cref="Validate"/>.</summary>
public sealed class BalancerOptions
{
    /// <summary>The algorithm. Default: <see cref="LoadBalancingAlgorithm.RoundRobin"/>.</summary>
    public LoadBalancingAlgorithm Algorithm { get; set; } = LoadBalancingAlgorithm.RoundRobin;

    /// <summary>Least-request settings.</summary>
    public LeastRequestOptions LeastRequest { get; set; } = new();

    /// <summary>Peak-EWMA settings.</summary>
    public PeakEwmaOptions PeakEwma { get; set; } = new();

    /// <summary>Ring-hash settings.</summary>
    public RingHashOptions RingHash { get; set; } = new();

    /// <summary>Maglev settings.</summary>
    public MaglevOptions Maglev { get; set; } = new();

    /// <summary>
    /// Bounded loads for ring-hash and maglev: no endpoint takes more than
    /// ⌈factor × average in-flight⌉ (weighted) requests; a key whose endpoint is full spills along a
    /// fixed sequence derived from the key. <c>null</c> (default) turns it off; otherwise at least 1
    /// (Envoy's <c>hash_balance_factor</c> of 125 is 1.25 here).
    /// </summary>
    public double? HashBalanceFactor { get; set; }

    /// <summary>Passive outlier detection.</summary>
    public OutlierDetectionOptions OutlierDetection { get; set; } = new();

    /// <summary>Slow start for new endpoints (round-robin and least-request).</summary>
    public SlowStartOptions SlowStart { get; set; } = new();

    /// <summary>
    /// Below this share (percent) of healthy endpoints the balancer ignores health and picks among
    /// all, as Envoy does. 0 turns panic mode off. Default 50.
    /// </summary>
    public double PanicThresholdPercent { get; set; } = 50;

    /// <summary>
    /// Whether an endpoint counts as actively healthy before anyone reports its health with
    /// <see cref="Balancer.SetHealth"/>. Default <c>true</c>: a new endpoint takes traffic at once and an active health
    /// check can take it out. <c>false</c>: an endpoint takes no traffic until it is first reported healthy. Either way
    /// the panic threshold counts it.
    /// </summary>
    public bool AssumeHealthy { get; set; } = true;

    /// <summary>
    /// The zone the balancer runs in (for example the node's <c>topology.kubernetes.io/zone</c>), for topology hints:
    /// when every endpoint in use carries hints (<see cref="BackendEndpoint.ForZones"/>, Kubernetes' EndpointSlice
    /// <c>hints.forZones</c>), only those hinted for this zone take traffic, as kube-proxy routes; when none of them is
    /// (its own are unhealthy or ejected, or the hints are mid-change), all do. Null (the default) ignores hints.
    /// </summary>
    public string? Zone { get; set; }

    /// <summary>
    /// A last-resort target (for example the Service's ClusterIP) used only when no endpoint is
    /// usable. Default: none.
    /// </summary>
    public BackendEndpoint? Fallback { get; set; }

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it and its value.</exception>
    public void Validate()
    {
        var errors = GetValidationErrors();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", errors));
        }
    }

    /// <summary>Lists every invalid setting, each message naming the key and its value.</summary>
    /// <returns>The messages; empty when the options are valid.</returns>
    public IReadOnlyList<string> GetValidationErrors()
    {
        var errors = new List<string>();
        if (Zone is not null && string.IsNullOrWhiteSpace(Zone))
        {
            errors.Add("Zone must not be empty when given (leave it out to ignore topology hints).");
        }

        if (!Enum.IsDefined(Algorithm))
        {
            errors.Add($"Algorithm: '{Algorithm}' is not an algorithm.");
        }

        if (LeastRequest.ChoiceCount is < 2 or > LeastRequestOptions.MaxChoiceCount)
        {
            errors.Add($"LeastRequest.ChoiceCount must be between 2 and {LeastRequestOptions.MaxChoiceCount}; got {LeastRequest.ChoiceCount}.");
        }

        if (!(LeastRequest.ActiveRequestBias >= 0) || double.IsInfinity(LeastRequest.ActiveRequestBias))
        {
            errors.Add($"LeastRequest.ActiveRequestBias must be a finite number of 0 or more; got {LeastRequest.ActiveRequestBias}.");
        }

        RequirePositive(errors, "PeakEwma.DecayTime", PeakEwma.DecayTime);
        RequirePositive(errors, "PeakEwma.DefaultRtt", PeakEwma.DefaultRtt);
        RequirePositive(errors, "PeakEwma.PenaltyRtt", PeakEwma.PenaltyRtt);

        if (RingHash.MinimumRingSize is < 1 or > RingHashOptions.MaxRingSizeLimit)
        {
            errors.Add($"RingHash.MinimumRingSize must be between 1 and {RingHashOptions.MaxRingSizeLimit}; got {RingHash.MinimumRingSize}.");
        }

        if (RingHash.MaximumRingSize is < 1 or > RingHashOptions.MaxRingSizeLimit)
        {
            errors.Add($"RingHash.MaximumRingSize must be between 1 and {RingHashOptions.MaxRingSizeLimit}; got {RingHash.MaximumRingSize}.");
        }

        if (RingHash.MinimumRingSize > RingHash.MaximumRingSize)
        {
            errors.Add($"RingHash.MinimumRingSize ({RingHash.MinimumRingSize}) must not exceed RingHash.MaximumRingSize ({RingHash.MaximumRingSize}).");
        }

        if (Maglev.TableSize is < 2 or > MaglevOptions.MaxTableSize || !Primes.IsPrime(Maglev.TableSize))
        {
            errors.Add($"Maglev.TableSize must be a prime between 2 and {MaglevOptions.MaxTableSize}; got {Maglev.TableSize}.");
        }

        if (HashBalanceFactor is { } factor && !(factor >= 1 && !double.IsInfinity(factor)))
        {
            errors.Add($"HashBalanceFactor must be 1 or more (or unset); got {factor}.");
        }

        if (OutlierDetection.ConsecutiveFailures < 1)
        {
            errors.Add($"OutlierDetection.ConsecutiveFailures must be 1 or more; got {OutlierDetection.ConsecutiveFailures}.");
        }

        RequirePositive(errors, "OutlierDetection.BaseEjectionTime", OutlierDetection.BaseEjectionTime);
        if (OutlierDetection.MaxEjectionTime < OutlierDetection.BaseEjectionTime)
        {
            errors.Add($"OutlierDetection.MaxEjectionTime ({OutlierDetection.MaxEjectionTime}) must not be less than OutlierDetection.BaseEjectionTime ({OutlierDetection.BaseEjectionTime}).");
        }

        RequirePercent(errors, "OutlierDetection.MaxEjectionPercent", OutlierDetection.MaxEjectionPercent);
        if (SlowStart.Window < TimeSpan.Zero)
        {
            errors.Add($"SlowStart.Window must not be negative; got {SlowStart.Window}.");
        }

        if (!(SlowStart.Aggression > 0) || double.IsInfinity(SlowStart.Aggression))
        {
            errors.Add($"SlowStart.Aggression must be a finite number above 0; got {SlowStart.Aggression}.");
        }

        RequirePercent(errors, "SlowStart.MinWeightPercent", SlowStart.MinWeightPercent);
        RequirePercent(errors, "PanicThresholdPercent", PanicThresholdPercent);
        return errors;
    }

    private static void RequirePositive(List<string> errors, string key, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{key} must be positive; got {value}.");
        }
    }

    private static void RequirePercent(List<string> errors, string key, double value)
    {
        if (!(value is >= 0 and <= 100))
        {
            errors.Add($"{key} must be between 0 and 100; got {value}.");
        }
    }
}

/// <summary>Least-request settings.</summary>
public sealed class LeastRequestOptions
{
    /// <summary>The largest <see cref="ChoiceCount"/> accepted.</summary>
    public const int MaxChoiceCount = 64;

    /// <summary>How many distinct endpoints to sample per pick (Envoy's <c>choice_count</c>). Default 2.</summary>
    public int ChoiceCount { get; set; } = 2;

    /// <summary>
    /// With unequal weights an endpoint scores <c>weight / (active + 1)^bias</c> (Envoy's
    /// <c>active_request_bias</c>). Default 1.0; 0 ignores load and keeps only weights.
    /// </summary>
    public double ActiveRequestBias { get; set; } = 1.0;
}

/// <summary>Peak-EWMA settings (Finagle's and Linkerd's defaults).</summary>
public sealed class PeakEwmaOptions
{
    /// <summary>The decay time τ of the moving average. Default 10 s.</summary>
    public TimeSpan DecayTime { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The latency assumed for an endpoint with no sample yet when the endpoint it is drawn against
    /// has none either; against a sampled endpoint it is assumed as fast as that one, up to this.
    /// Default 30 ms (Linkerd's).
    /// </summary>
    public TimeSpan DefaultRtt { get; set; } = TimeSpan.FromMilliseconds(30);

    /// <summary>
    /// The latency assumed for an endpoint that has requests in flight but no sample yet, so a new
    /// or silent endpoint is not flooded before its first answer. Default 1 s.
    /// </summary>
    public TimeSpan PenaltyRtt { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Ring-hash settings (Envoy's defaults).</summary>
public sealed class RingHashOptions
{
    /// <summary>The largest ring size accepted (Envoy's limit).</summary>
    public const int MaxRingSizeLimit = 8_388_608;

    /// <summary>The minimum number of ring entries. Default 1024.</summary>
    public int MinimumRingSize { get; set; } = 1024;

    /// <summary>The maximum number of ring entries. Default 8M (8,388,608).</summary>
    public int MaximumRingSize { get; set; } = MaxRingSizeLimit;
}

/// <summary>Maglev settings.</summary>
public sealed class MaglevOptions
{
    /// <summary>The default table size, a prime (the Maglev paper's and Envoy's).</summary>
    public const int DefaultTableSize = 65537;

    /// <summary>The largest table size accepted.</summary>
    public const int MaxTableSize = 5_000_011;

    /// <summary>The lookup table size; must be prime. Default 65537.</summary>
    public int TableSize { get; set; } = DefaultTableSize;
}

/// <summary>Passive outlier detection: endpoints that fail repeatedly are ejected for a while.</summary>
public sealed class OutlierDetectionOptions
{
    /// <summary>Whether outlier detection runs. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Consecutive failures that eject an endpoint. Default 5 (Envoy's).</summary>
    public int ConsecutiveFailures { get; set; } = 5;

    /// <summary>The first ejection's length; the n-th ejection lasts n times this. Default 30 s.</summary>
    public TimeSpan BaseEjectionTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest an ejection may last. Default 300 s.</summary>
    public TimeSpan MaxEjectionTime { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>
    /// No new ejection once this share (percent) of endpoints is ejected; one endpoint can always be
    /// ejected. Default 10 (Envoy's).
    /// </summary>
    public double MaxEjectionPercent { get; set; } = 10;
}

/// <summary>Slow start: a new endpoint's weight ramps up over a window (Envoy's formula).</summary>
public sealed class SlowStartOptions
{
    /// <summary>The ramp length. Default zero: off.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.Zero;

    /// <summary>The curve: weight × max(min, (t / window)^(1 / aggression)). Default 1.0 (linear).</summary>
    public double Aggression { get; set; } = 1.0;

    /// <summary>The least share (percent) of its weight a new endpoint gets. Default 10.</summary>
    public double MinWeightPercent { get; set; } = 10;
}
