namespace LoadBalancing;

/// <summary>What a balancer's current picker was built from: the view an operator needs in an incident.</summary>
public sealed class BalancerStatus
{
    internal BalancerStatus(long version, int total, int eligible, int healthy, int ejected, int unhealthy, int usable, bool inPanic, bool inZone, DateTimeOffset built)
    {
        EndpointSetVersion = version;
        TotalEndpoints = total;
        EligibleEndpoints = eligible;
        HealthyEndpoints = healthy;
        EjectedEndpoints = ejected;
        UnhealthyEndpoints = unhealthy;
        UsableEndpoints = usable;
        InPanic = inPanic;
        InZone = inZone;
        Built = built;
    }

    /// <summary>The endpoint set version the picker was built from.</summary>
    public long EndpointSetVersion { get; }

    /// <summary>Endpoints in the set.</summary>
    public int TotalEndpoints { get; }

    /// <summary>Endpoints whose conditions allow traffic (ready; or serving, when none is ready).</summary>
    public int EligibleEndpoints { get; }

    /// <summary>Eligible endpoints neither ejected by outlier detection nor actively unhealthy.</summary>
    public int HealthyEndpoints { get; }

    /// <summary>Eligible endpoints ejected by outlier detection.</summary>
    public int EjectedEndpoints { get; }

    /// <summary>Eligible endpoints actively unhealthy (see <see cref="Balancer.SetHealth"/>), ejected or not.</summary>
    public int UnhealthyEndpoints { get; }

    /// <summary>Endpoints the picker picks from.</summary>
    public int UsableEndpoints { get; }

    /// <summary>Whether too few endpoints were healthy, so the picker ignores ejections and active health.</summary>
    public bool InPanic { get; }

    /// <summary>
    /// Whether topology hints narrowed the picker to the endpoints hinted for <see cref="BalancerOptions.Zone"/>
    /// (<see cref="UsableEndpoints"/> counts only those).
    /// </summary>
    public bool InZone { get; }

    /// <summary>When the picker was built.</summary>
    public DateTimeOffset Built { get; }
}
