using LoadBalancing.Kubectl.Cli;
using LoadBalancing.Kubectl.Kube;

namespace LoadBalancing.Kubectl.Commands;

/// <summary>What every command gets: the command line, the cluster access, the pods to ask, where to write.</summary>
internal sealed record CommandContext(CommandLine Options, KubeAccess Kube, IReadOnlyList<string> Pods, TextWriter Output, CancellationToken CancellationToken)
{
    /// <summary>Each pod's <c>/backends</c>, in pod order.</summary>
    public async Task<IReadOnlyList<Replica>> BackendsAsync()
    {
        var replicas = new List<Replica>(Pods.Count);
        foreach (var pod in Pods)
        {
            replicas.Add(new Replica(pod, await Kube.AdminAsync(pod, "backends", CancellationToken)));
        }

        return replicas;
    }

    // Relaxed escaping: the output is read by people and jq, not embedded in HTML, and "+00:00" should stay readable.
    private static readonly System.Text.Json.JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Writes structured output: JSON, or with <c>-o yaml</c> the same document as YAML.</summary>
    public Task WriteJsonAsync(System.Text.Json.Nodes.JsonNode node) =>
        Options.Yaml ? Output.WriteAsync(Rendering.Yaml.Write(node)) : Output.WriteLineAsync(node.ToJsonString(Indented));
}
