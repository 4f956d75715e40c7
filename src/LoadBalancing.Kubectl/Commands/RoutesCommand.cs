using System.Text.Json.Nodes;
using LoadBalancing.Kubectl.Rendering;

namespace LoadBalancing.Kubectl.Commands;

/// <summary><c>kubectl lb routes</c>: each route, the object it came from, its problem, and its clusters' freshness.</summary>
internal static class RoutesCommand
{
    public static async Task<int> RunAsync(CommandContext context)
    {
        var replicas = await context.BackendsAsync();
        if (context.Options.Json)
        {
            await context.WriteJsonAsync(new JsonArray([.. replicas.Select(r => (JsonNode)new JsonObject
            {
                ["pod"] = r.Pod,
                ["routes"] = r.Backends["routes"]?.DeepClone(),
            })]));
            return KubectlLb.Ok;
        }

        var table = new Table("POD", "ROUTE", "ORIGIN", "PROBLEM", "CLUSTERS");
        foreach (var replica in replicas)
        {
            foreach (var route in Cells.Array(replica.Backends["routes"]).OfType<JsonObject>())
            {
                var clusters = Cells.Array(route["clusters"]).OfType<JsonObject>()
                    .Select(c => Cells.Invariant($"{Cells.Text(c["name"])}({Cells.Text(c["freshness"])}, {Cells.Text(c["usableEndpoints"])} usable)"));
                table.Add(replica.Pod, Cells.Text(route["name"]), Origin(route["origin"] as JsonObject), Cells.Text(route["origin"]?["Problem"]), string.Join(' ', clusters));
            }
        }

        table.WriteTo(context.Output);
        return KubectlLb.Ok;
    }

    /// <summary><c>Kind ns/name@resourceVersion</c>, or <c>config</c> for a route from the configuration file.</summary>
    private static string Origin(JsonObject? origin)
    {
        if (origin is null)
        {
            return "config";
        }

        var ns = Cells.String(origin["Namespace"]);
        var version = Cells.String(origin["ResourceVersion"]);
        return $"{Cells.Text(origin["Kind"])} {(ns is null ? "" : ns + "/")}{Cells.Text(origin["Name"])}{(version is null ? "" : "@" + version)}";
    }
}
