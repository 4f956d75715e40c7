using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace LoadBalancing.Kubernetes;

/// <summary>
/// Healthy while every namespace's view is younger than <see cref="KubernetesDiscoveryOptions.StaleAfter"/>;
/// Degraded beyond it; Unhealthy beyond <see cref="KubernetesDiscoveryOptions.UnhealthyAfter"/> or before the
/// first list. Computed from timestamps on every call, never latched.
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
            var never = ns.ViewAge == TimeSpan.MaxValue;
            var age = never ? "never synced" : ns.ViewAge.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";
            data[ns.Namespace] = age;
            var status = never || ns.ViewAge > discovery.UnhealthyAfter ? HealthStatus.Unhealthy
                : ns.ViewAge > discovery.StaleAfter ? HealthStatus.Degraded
                : HealthStatus.Healthy;
            if (status != HealthStatus.Healthy)
            {
                problems.Add($"{ns.Namespace}: view {(never ? "never synced" : "last current " + age + " ago")}");
                worst = status < worst ? status : worst;
            }
        }

        var description = problems.Count == 0 ? "every EndpointSlice view is current" : string.Join("; ", problems);
        return Task.FromResult(new HealthCheckResult(worst, description, data: data));
    }
}
