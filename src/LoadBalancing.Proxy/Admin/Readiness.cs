using System.Globalization;
using System.Text;

namespace LoadBalancing.Proxy.Admin;

/// <summary>
/// Whether the proxy should receive traffic: not while draining, not while any cluster's discovery is
/// stale, and not when no cluster has a usable endpoint. Computed from timestamps on every call.
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

        var anyUsable = false;
        foreach (var cluster in runtime.Clusters)
        {
            var status = cluster.Balancer.Status;
            var usable = status.UsableEndpoints > 0 || cluster.Options.Fallback is not null;
            anyUsable |= usable;
            var age = cluster.Source.Staleness();
            var ageText = age is { } a ? a.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + "s" : "never";
            if (cluster.IsStale)
            {
                ready = false;
                report.AppendLine(CultureInfo.InvariantCulture, $"cluster {cluster.Name}: stale (last confirmed {ageText} ago, bound {cluster.StalenessBound!.Value.TotalSeconds:0.#}s)");
            }
            else
            {
                report.AppendLine(CultureInfo.InvariantCulture, $"cluster {cluster.Name}: {status.UsableEndpoints}/{status.TotalEndpoints} endpoints usable");
            }
        }

        if (!anyUsable)
        {
            ready = false;
            report.AppendLine("no cluster has a usable endpoint");
        }

        report.Insert(0, ready ? "ready\n" : "not ready\n");
        return (ready, report.ToString());
    }
}
