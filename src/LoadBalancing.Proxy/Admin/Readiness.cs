using System.Globalization;
using System.Text;

namespace LoadBalancing.Proxy.Admin;

/// <summary>
/// Whether the proxy should receive traffic: not while draining, not while any cluster's discovery has never synced
/// or is stale for a reason of this replica's own (its source of truth answers but the list does not converge), not
/// while a route source has not read its routes yet, and not when there are clusters but none has a usable endpoint
/// (a controller whose route sources define no cluster yet — no Ingress exists — is ready: it answers 404 correctly). A list that is stale because discovery's source of truth cannot be
/// reached keeps the proxy ready: every replica is in the same position, and turning them all unready would turn a
/// control-plane outage into a data-plane outage. Computed from timestamps on every call.
/// </summary>
internal static class Readiness
{
    public static (bool Ready, string Report) Check(ProxyRuntime runtime)
    {
        var report = new StringBuilder();
        var ready = true;
        if (runtime.Draining)
        {
            ready = false;
            report.AppendLine("draining: shutting down");
        }

        foreach (var source in runtime.RouteSources)
        {
            if (!source.HasPublished)
            {
                ready = false;
                report.AppendLine(CultureInfo.InvariantCulture, $"route source {source.Name}: has not read its routes yet");
            }
        }

        var anyUsable = false;
        foreach (var cluster in runtime.Clusters)
        {
            var status = cluster.Balancer.Status;
            var usable = status.UsableEndpoints > 0 || cluster.Options.Fallback is not null;
            anyUsable |= usable;
            var age = cluster.Source.Staleness();
            var ageText = age is { } a ? a.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + "s" : "never";
            var freshness = cluster.Freshness;
            if (freshness == "never-synced")
            {
                ready &= !cluster.BlocksReadiness;
                report.AppendLine(CultureInfo.InvariantCulture, $"cluster {cluster.Name}: never synced{(cluster.BlocksReadiness ? "" : " (added by a reload: not blocking readiness)")}");
            }
            else if (freshness == "stale-not-converging")
            {
                ready = false;
                report.AppendLine(CultureInfo.InvariantCulture, $"cluster {cluster.Name}: stale, not converging although its source answers (last confirmed {ageText} ago, bound {cluster.StalenessBound!.Value.TotalSeconds:0.#}s)");
            }
            else if (freshness == "stale-unreachable")
            {
                report.AppendLine(CultureInfo.InvariantCulture, $"cluster {cluster.Name}: degraded, stale because its source cannot be reached; serving the last good list (last confirmed {ageText} ago, bound {cluster.StalenessBound!.Value.TotalSeconds:0.#}s); {status.UsableEndpoints}/{status.TotalEndpoints} endpoints usable");
            }
            else
            {
                report.AppendLine(CultureInfo.InvariantCulture, $"cluster {cluster.Name}: {status.UsableEndpoints}/{status.TotalEndpoints} endpoints usable");
            }
        }

        if (!anyUsable && (runtime.Clusters.Count > 0 || runtime.RouteSources.Count == 0))
        {
            ready = false;
            report.AppendLine("no cluster has a usable endpoint");
        }

        report.Insert(0, ready ? "ready\n" : "not ready\n");
        return (ready, report.ToString());
    }
}
