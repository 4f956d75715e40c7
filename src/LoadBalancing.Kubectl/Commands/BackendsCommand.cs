using System.Text.Json.Nodes;
using LoadBalancing.Kubectl.Rendering;

namespace LoadBalancing.Kubectl.Commands;

/// <summary><c>kubectl lb backends [CLUSTER]</c>: a block per cluster and a row per endpoint, as each proxy sees them.</summary>
internal static class BackendsCommand
{
    public static async Task<int> RunAsync(CommandContext context)
    {
        var replicas = await context.BackendsAsync();
        var only = context.Options.Cluster;
        if (only is not null && !replicas.Any(r => r.Clusters(only).Any()))
        {
            throw new InvalidDataException($"no proxy has a cluster named '{only}'");
        }

        if (context.Options.Json)
        {
            await context.WriteJsonAsync(new JsonArray([.. replicas.Select(r => (JsonNode)new JsonObject
            {
                ["pod"] = r.Pod,
                ["clusters"] = new JsonArray([.. r.Clusters(only).Select(c => c.DeepClone())]),
            })]));
            return KubectlLb.Ok;
        }

        var output = context.Output;
        for (var i = 0; i < replicas.Count; i++)
        {
            var replica = replicas[i];
            if (i > 0)
            {
                await output.WriteLineAsync();
            }

            await output.WriteLineAsync($"POD {replica.Pod}");
            foreach (var cluster in replica.Clusters(only))
            {
                await output.WriteLineAsync(Cells.Invariant(
                    $"CLUSTER {Cells.Text(cluster["name"])}   algorithm {Cells.Text(cluster["algorithm"])}   version {Cells.Text(cluster["endpointSetVersion"])}   freshness {Cells.Text(cluster["freshness"])}   usable {Cells.Text(cluster["usableEndpoints"])}/{Cells.Text(cluster["totalEndpoints"])}{Zone(cluster)}{Affinity(cluster)}{Origins(cluster["source"])}"));
                var table = new Table(
                    "ADDRESS", "ZONE", "WEIGHT", "CONDITIONS", "IN-FLIGHT", "EWMA-MS", "REQUESTS", "2XX", "5XX", "TIMEOUTS", "CONNECT-FAILS",
                    "EJECTIONS", "EJECTED", "EJECTED-UNTIL", "LAST-ERROR");
                foreach (var endpoint in Cells.Array(cluster["endpoints"]).OfType<JsonObject>())
                {
                    table.Add(
                        Cells.Invariant($"{Cells.Text(endpoint["address"])}:{Cells.Text(endpoint["port"])}"),
                        Cells.Text(endpoint["zone"]),
                        Cells.Text(endpoint["weight"]),
                        Cells.Conditions(endpoint["conditions"]),
                        Cells.Text(endpoint["inFlight"]),
                        Cells.Text(endpoint["ewmaMilliseconds"]),
                        Cells.Text(endpoint["requests"]),
                        Cells.Text(endpoint["responses"]?["2xx"]),
                        Cells.Text(endpoint["responses"]?["5xx"]),
                        Cells.Text(endpoint["timeouts"]),
                        Cells.Sum(endpoint["connectFailures"]),
                        Cells.Text(endpoint["ejectionsTotal"]),
                        Cells.Text(endpoint["ejected"]),
                        Cells.Time(endpoint["ejectedUntil"]),
                        endpoint["lastError"] is JsonObject error ? $"{Cells.Time(error["at"])} {Cells.Text(error["kind"])}: {Cells.Text(error["message"])}" : "-");
                }

                table.WriteTo(output, "  ");
            }
        }

        return KubectlLb.Ok;
    }

    /// <summary>
    /// The replica's zone and whether topology hints narrowed the cluster to it, e.g. <c>   zone eu-west-1a (hinted)</c>;
    /// nothing for a replica without a zone.
    /// </summary>
    private static string Zone(JsonObject cluster) =>
        cluster["zone"] is JsonNode zone
            ? $"   zone {Cells.Text(zone)} ({(cluster["inZone"]?.GetValue<bool>() == true ? "hinted" : "all zones")})"
            : "";

    /// <summary>The session affinity cookie, e.g. <c>   affinity cookie lb-affinity (3 moved)</c>; nothing without affinity.</summary>
    private static string Affinity(JsonObject cluster) =>
        cluster["sessionAffinity"]?["cookie"] is JsonNode cookie
            ? Cells.Invariant($"   affinity cookie {Cells.Text(cookie)} ({Cells.Text(cluster["sessionsMoved"])} moved)")
            : "";

    /// <summary>
    /// What the latest publish was built from, e.g. <c>   slices web-abc@1234,web-def@1240</c>; nothing for a
    /// cluster whose source describes no origins (a configured list).
    /// </summary>
    private static string Origins(JsonNode? source)
    {
        if (source?["origins"] is not JsonArray origins)
        {
            return "";
        }

        var names = origins.OfType<JsonObject>()
            .Select(o => Cells.String(o["version"]) is { } version ? $"{Cells.Text(o["name"])}@{version}" : Cells.Text(o["name"]))
            .ToArray();
        var label = origins.OfType<JsonObject>().All(o => Cells.String(o["kind"]) == "EndpointSlice") ? "slices" : "origins";
        return $"   {label} {(names.Length == 0 ? "none" : string.Join(',', names))}";
    }
}
