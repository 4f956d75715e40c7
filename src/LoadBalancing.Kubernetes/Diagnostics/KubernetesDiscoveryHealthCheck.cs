using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace LoadBalancing.Kubernetes;

/// <summary>
/// Readiness of discovery (tag <c>ready</c>), one signal per cause: Healthy while every namespace's view is confirmed
/// within <see cref="KubernetesDiscoveryOptions.StaleAfter"/>; Degraded when a view is stale because the API server
/// cannot be reached (every replica is in the same position: keep serving the last good list); Unhealthy when a view
/// is stale although the API server answers (this replica does not converge), before the first list, or while the
/// loops are wedged. Computed from timestamps on every call, never latched.
/// </summary>
public sealed class KubernetesDiscoveryHealthCheck(KubernetesDiscovery discovery) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var worst = HealthStatus.Healthy;
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var ns in discovery.Freshness)
        {
            var age = ns.ViewAge == TimeSpan.MaxValue ? "never confirmed" : ns.ViewAge.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";
            data[ns.Namespace] = age;
            var (status, why) = ns.Status switch
            {
                ViewStatus.Current => (HealthStatus.Healthy, ""),
                ViewStatus.StaleUnreachable => (HealthStatus.Degraded, $"stale for {age}: the API server cannot be reached; serving the last good endpoints"),
                ViewStatus.StaleNotConverging => (HealthStatus.Unhealthy, $"stale for {age} although the API server answers"),
                ViewStatus.NeverSynced => (HealthStatus.Unhealthy, "never synced"),
                _ => (HealthStatus.Unhealthy, "discovery is wedged"),
            };
            if (status != HealthStatus.Healthy)
            {
                problems.Add($"{ns.Namespace}: {why}");
                worst = status < worst ? status : worst;
            }
        }

        var description = problems.Count == 0 ? "every EndpointSlice view is confirmed" : string.Join("; ", problems);
        return Task.FromResult(new HealthCheckResult(worst, description, data: data));
    }
}
