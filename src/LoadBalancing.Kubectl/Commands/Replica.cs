using System.Text.Json.Nodes;

namespace LoadBalancing.Kubectl.Commands;

/// <summary>One proxy pod and what its admin port answered.</summary>
internal sealed record Replica(string Pod, JsonObject Backends)
{
    public IEnumerable<JsonObject> Clusters(string? only) =>
        Rendering.Cells.Array(Backends["clusters"]).OfType<JsonObject>()
            .Where(c => only is null || Rendering.Cells.String(c["name"]) == only);
}
