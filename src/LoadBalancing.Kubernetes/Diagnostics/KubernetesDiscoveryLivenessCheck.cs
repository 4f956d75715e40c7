using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace LoadBalancing.Kubernetes;

/// <summary>
/// Liveness of discovery (tag <c>live</c>): Unhealthy when its loops are wedged — one ended while discovery runs, or
/// one made no attempt of any kind for longer than <see cref="KubernetesDiscoveryOptions.WedgedAfter"/> — so the
/// kubelet restarts a process whose discovery can no longer recover by itself. Nothing the API server does makes it
/// fail: an unreachable API server is an attempt that fails, not a wedge.
/// </summary>
public sealed class KubernetesDiscoveryLivenessCheck(KubernetesDiscovery discovery) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(discovery.Wedged() is { } reason
            ? HealthCheckResult.Unhealthy($"Kubernetes discovery is wedged: {reason}")
            : HealthCheckResult.Healthy("Kubernetes discovery's loops are running"));
}
