using LoadBalancing.Internal;

namespace LoadBalancing.Algorithms;

/// <summary>
/// An immutable picking table over one snapshot of usable endpoints, built off the hot path.
/// <see cref="Pick"/> returns an index into <see cref="Endpoints"/>, or -1 when there is none;
/// it never locks, allocates or throws.
/// </summary>
internal abstract class Picker
{
    protected Picker(in PickerInput input)
    {
        Endpoints = input.Endpoints;
        States = input.States;
        Outliers = input.Outliers;
    }

    public BackendEndpoint[] Endpoints { get; }

    public EndpointState[] States { get; }

    /// <summary>The balancer's outlier record of each endpoint, aligned with <see cref="Endpoints"/>; carried by each pick to its completion.</summary>
    public OutlierState[] Outliers { get; }

    public abstract int Pick(in PickContext context);

    /// <summary>
    /// When topology hints narrowed <see cref="Endpoints"/> to one zone, every usable endpoint (all zones), for retries;
    /// null otherwise. Set before the picker is published.
    /// </summary>
    public PickerSet? BeyondZone { get; set; }

    /// <summary>The index of the endpoint with that affinity key in <see cref="Endpoints"/>, or -1.</summary>
    public int IndexOfAffinity(ulong key) => (_affinity ??= AffinityIndex.Build(Endpoints)).IndexOf(key);

    // Built on the first affinity pick of this snapshot; a race builds it twice, identically, and one copy wins.
    private AffinityIndex? _affinity;
}

/// <summary>Endpoints with their states and outlier records, aligned.</summary>
internal sealed record PickerSet(BackendEndpoint[] Endpoints, EndpointState[] States, OutlierState[] Outliers);

/// <summary>What a picker is built from: the usable endpoints, their states, outlier records and effective weights.</summary>
internal readonly record struct PickerInput(
    BackendEndpoint[] Endpoints,
    EndpointState[] States,
    OutlierState[] Outliers,
    double[] Weights,
    Random Random,
    BalancerOptions Options,
    EwmaClock Clock,
    LoadCounter? TotalInFlight)
{
    public int Count => Endpoints.Length;

    public bool EqualWeights
    {
        get
        {
            for (var i = 1; i < Weights.Length; i++)
            {
                if (Weights[i] != Weights[0])
                {
                    return false;
                }
            }

            return true;
        }
    }
}

/// <summary>Picks nothing: the snapshot had no usable endpoint.</summary>
internal sealed class EmptyPicker : Picker
{
    public EmptyPicker(in PickerInput input)
        : base(input)
    {
    }

    public override int Pick(in PickContext context) => -1;
}
