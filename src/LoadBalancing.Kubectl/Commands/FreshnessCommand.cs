using System.Text.Json.Nodes;
using LoadBalancing.Kubectl.Rendering;

namespace LoadBalancing.Kubectl.Commands;

/// <summary><c>kubectl lb freshness</c>: one line per replica and cluster, then one per replica and route-source feed.</summary>
internal static class FreshnessCommand
{
    public static async Task<int> RunAsync(CommandContext context)
    {
        var replicas = await context.BackendsAsync();
        if (context.Options.Json)
        {
            await context.WriteJsonAsync(new JsonArray([.. replicas.Select(r => (JsonNode)new JsonObject
            {
                ["pod"] = r.Pod,
                ["clusters"] = new JsonArray([.. r.Clusters(null).Select(c => (JsonNode)new JsonObject
                {
                    ["name"] = c["name"]?.DeepClone(),
                    ["freshness"] = c["freshness"]?.DeepClone(),
                    ["stalenessSeconds"] = c["stalenessSeconds"]?.DeepClone(),
                    ["lastConfirmed"] = c["lastConfirmed"]?.DeepClone(),
                })]),
                ["routeSources"] = r.Backends["routeSources"]?.DeepClone(),
            })]));
            return KubectlLb.Ok;
        }

        var clusters = new Table("POD", "CLUSTER", "FRESHNESS", "STALENESS-S", "LAST-CONFIRMED");
        var feeds = new Table("POD", "SOURCE", "FEED", "SYNCED", "CONNECTED", "LAST-HEARD-S", "UNREADABLE", "MISSED");
        var anyFeed = false;
        foreach (var replica in replicas)
        {
            foreach (var cluster in replica.Clusters(null))
            {
                clusters.Add(replica.Pod, Cells.Text(cluster["name"]), Cells.Text(cluster["freshness"]), Cells.Text(cluster["stalenessSeconds"]), Cells.Time(cluster["lastConfirmed"]));
            }

            foreach (var source in Cells.Array(replica.Backends["routeSources"]).OfType<JsonObject>())
            {
                foreach (var feed in Cells.Array(source["feeds"]).OfType<JsonObject>())
                {
                    anyFeed = true;
                    feeds.Add(
                        replica.Pod, Cells.Text(source["name"]), Cells.Text(feed["name"]), Cells.Text(feed["synced"]), Cells.Text(feed["connected"]),
                        Cells.Text(feed["secondsSinceLastHeard"]), Cells.Text(feed["unreadable"]), Cells.Text(feed["missed"]));
                }
            }
        }

        clusters.WriteTo(context.Output);
        if (anyFeed)
        {
            await context.Output.WriteLineAsync();
            feeds.WriteTo(context.Output);
        }

        return KubectlLb.Ok;
    }
}
