using k8s.Models;

namespace LoadBalancing.Proxy.Kubernetes.Election;

/// <summary>
/// What a Lease says about its holder — client-go's LeaderElectionRecord. Candidates compare records, not clocks: a
/// record that did not change for its <see cref="LeaseDurationSeconds"/> by our own clock has expired.
/// </summary>
internal readonly record struct LeaseRecord(string? HolderIdentity, int? LeaseDurationSeconds, DateTime? AcquireTime, DateTime? RenewTime, int? LeaseTransitions)
{
    public static LeaseRecord From(V1Lease lease) => lease.Spec is { } spec
        ? new LeaseRecord(spec.HolderIdentity, spec.LeaseDurationSeconds, spec.AcquireTime, spec.RenewTime, spec.LeaseTransitions)
        : default;

    public bool HasHolder => !string.IsNullOrEmpty(HolderIdentity);
}
