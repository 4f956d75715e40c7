using System.Text.Json.Nodes;
using LoadBalancing.Kubectl.Kube;
using LoadBalancing.Kubectl.Rendering;

namespace LoadBalancing.Kubectl.Commands;

/// <summary>
/// <c>kubectl lb diff [CLUSTER]</c>: for every replica and every cluster fed by Kubernetes (its Service in the
/// replica's <c>/config</c>), the endpoints the replica balances over against the Service's EndpointSlices as the
/// plugin reads them itself. Differences: <c>missing</c> (in the slices, not in the proxy), <c>extra</c> (in the proxy
/// only), <c>conditions</c> (both, with other conditions). Exit 1 when any replica differs.
/// </summary>
internal static class DiffCommand
{
    private sealed record Difference(string Pod, string Cluster, string Service, string Kind, string Endpoint, string Proxy, string Kubernetes);

    public static async Task<int> RunAsync(CommandContext context)
    {
        var only = context.Options.Cluster;
        var truths = new Dictionary<string, Dictionary<string, EndpointFact>>(StringComparer.Ordinal);
        var rows = new List<Difference>();
        var compared = 0;
        foreach (var pod in context.Pods)
        {
            var config = await context.Kube.AdminAsync(pod, "config", context.CancellationToken);
            var replica = new Replica(pod, await context.Kube.AdminAsync(pod, "backends", context.CancellationToken));
            var clusters = config["configuration"]?["Clusters"] as JsonObject ?? [];
            foreach (var (name, definition) in clusters.OrderBy(c => c.Key, StringComparer.Ordinal))
            {
                if ((only is not null && name != only) || definition?["Kubernetes"] is not JsonObject kubernetes)
                {
                    continue;
                }

                var ns = Cells.String(kubernetes["Namespace"]) ?? "default";
                var service = Cells.String(kubernetes["Service"]) ?? throw new InvalidDataException($"pod {pod}: cluster {name} has no Kubernetes.Service");
                var port = Cells.String(kubernetes["Port"]);
                var label = $"{ns}/{service}{(port is null ? "" : ":" + port)}";
                if (!truths.TryGetValue(label, out var truth))
                {
                    truths[label] = truth = ServiceTruth.Build(await context.Kube.SlicesAsync(ns, service, context.CancellationToken), port);
                }

                compared++;
                var before = rows.Count;
                if (replica.Clusters(name).FirstOrDefault() is not { } belief)
                {
                    rows.Add(new Difference(pod, name, label, "cluster-missing", "-", "-", $"{truth.Count} endpoints"));
                    continue;
                }

                Compare(pod, name, label, Belief(belief), truth, rows);
                if (rows.Count == before)
                {
                    rows.Add(new Difference(pod, name, label, "none", "-", $"{truth.Count} endpoints ({Cells.Text(belief["freshness"])})", $"{truth.Count} endpoints"));
                }
            }
        }

        if (only is not null && compared == 0)
        {
            throw new InvalidDataException($"no proxy has a cluster named '{only}' fed by Kubernetes");
        }

        var differing = rows.Where(r => r.Kind != "none").Select(r => r.Pod).Distinct(StringComparer.Ordinal).Count();
        if (context.Options.Json)
        {
            await context.WriteJsonAsync(new JsonObject
            {
                ["replicas"] = context.Pods.Count,
                ["replicasDiffering"] = differing,
                ["differences"] = new JsonArray([.. rows.Where(r => r.Kind != "none").Select(r => (JsonNode)new JsonObject
                {
                    ["pod"] = r.Pod,
                    ["cluster"] = r.Cluster,
                    ["service"] = r.Service,
                    ["difference"] = r.Kind,
                    ["endpoint"] = r.Endpoint,
                    ["proxy"] = r.Proxy,
                    ["kubernetes"] = r.Kubernetes,
                })]),
            });
        }
        else if (compared == 0)
        {
            await context.Output.WriteLineAsync("no cluster is fed by Kubernetes: nothing to compare");
        }
        else
        {
            var table = new Table("POD", "CLUSTER", "SERVICE", "DIFFERENCE", "ENDPOINT", "PROXY", "KUBERNETES");
            foreach (var row in rows)
            {
                table.Add(row.Pod, row.Cluster, row.Service, row.Kind, row.Endpoint, row.Proxy, row.Kubernetes);
            }

            table.WriteTo(context.Output);
            await context.Output.WriteLineAsync(differing == 0
                ? $"all {context.Pods.Count} replicas match the EndpointSlices"
                : $"{differing} of {context.Pods.Count} replicas differ from the EndpointSlices");
        }

        return differing == 0 ? KubectlLb.Ok : KubectlLb.Differs;
    }

    private static Dictionary<string, EndpointFact> Belief(JsonObject cluster)
    {
        var facts = new Dictionary<string, EndpointFact>(StringComparer.Ordinal);
        foreach (var endpoint in Cells.Array(cluster["endpoints"]).OfType<JsonObject>())
        {
            var key = ServiceTruth.Key(Cells.String(endpoint["address"]) ?? "", endpoint["port"]?.GetValue<int>() ?? 0);
            facts[key] = new EndpointFact(key, Cells.Conditions(endpoint["conditions"]));
        }

        return facts;
    }

    private static void Compare(string pod, string cluster, string service, Dictionary<string, EndpointFact> proxy, Dictionary<string, EndpointFact> truth, List<Difference> rows)
    {
        foreach (var (key, fact) in truth.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!proxy.TryGetValue(key, out var believed))
            {
                rows.Add(new Difference(pod, cluster, service, "missing", key, "-", fact.Conditions));
            }
            else if (believed.Conditions != fact.Conditions)
            {
                rows.Add(new Difference(pod, cluster, service, "conditions", key, believed.Conditions, fact.Conditions));
            }
        }

        foreach (var (key, fact) in proxy.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!truth.ContainsKey(key))
            {
                rows.Add(new Difference(pod, cluster, service, "extra", key, fact.Conditions, "-"));
            }
        }
    }
}
