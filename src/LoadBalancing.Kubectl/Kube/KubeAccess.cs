using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using LoadBalancing.Kubectl.Cli;

namespace LoadBalancing.Kubectl.Kube;

/// <summary>
/// What the plugin reads from the cluster: the proxy pods, each pod's admin endpoints through the API server's pod
/// proxy subresource (so no port-forward and no route to the pod network are needed), and EndpointSlices.
/// </summary>
internal sealed class KubeAccess : IDisposable
{
    private readonly k8s.Kubernetes _client;
    private readonly int _adminPort;

    private KubeAccess(k8s.Kubernetes client, string ns, int adminPort)
    {
        _client = client;
        Namespace = ns;
        _adminPort = adminPort;
    }

    /// <summary>The namespace of the proxy pods: <c>-n</c>, else the context's, else <c>default</c>.</summary>
    public string Namespace { get; }

    /// <summary>Connects as kubectl would: <c>--api-server</c>, else <c>--kubeconfig</c>/<c>$KUBECONFIG</c>/<c>~/.kube/config</c> with <c>--context</c>.</summary>
    public static KubeAccess Connect(CommandLine options)
    {
        KubernetesClientConfiguration configuration;
        if (options.ApiServer is { } url)
        {
            configuration = new KubernetesClientConfiguration { Host = url };
        }
        else if (options.KubeConfig is not null || options.Context is not null)
        {
            configuration = KubernetesClientConfiguration.BuildConfigFromConfigFile(options.KubeConfig, options.Context);
        }
        else
        {
            configuration = KubernetesClientConfiguration.BuildDefaultConfig();
        }

        // A pod proxy call to a wedged replica must not hang the command for the client's default 100 s.
        configuration.HttpClientTimeout = options.RequestTimeout;
        var ns = options.Namespace ?? (string.IsNullOrEmpty(configuration.Namespace) ? "default" : configuration.Namespace);
        return new KubeAccess(new k8s.Kubernetes(configuration), ns, options.AdminPort);
    }

    /// <summary>Running pods matching <paramref name="selector"/> with an IP, by name.</summary>
    public async Task<IReadOnlyList<string>> ProxyPodsAsync(string selector, CancellationToken cancellationToken)
    {
        var pods = await _client.CoreV1.ListNamespacedPodAsync(Namespace, labelSelector: selector, cancellationToken: cancellationToken);
        return [.. pods.Items
            .Where(p => p.Status?.Phase == "Running" && !string.IsNullOrEmpty(p.Status.PodIP))
            .Select(p => p.Metadata.Name)
            .Order(StringComparer.Ordinal)];
    }

    /// <summary>GET <c>/{path}</c> on the pod's admin port through <c>pods/{pod}:{port}/proxy</c>.</summary>
    public async Task<JsonObject> AdminAsync(string pod, string path, CancellationToken cancellationToken)
    {
        await using var stream = await _client.CoreV1.ConnectGetNamespacedPodProxyWithPathAsync(
            $"{pod}:{_adminPort.ToString(System.Globalization.CultureInfo.InvariantCulture)}", Namespace, path, cancellationToken: cancellationToken);
        return await JsonNode.ParseAsync(stream, cancellationToken: cancellationToken) as JsonObject
            ?? throw new InvalidDataException($"pod {pod}: /{path} is not a JSON object");
    }

    /// <summary>The EndpointSlices of Service <paramref name="ns"/>/<paramref name="service"/>.</summary>
    public async Task<IList<V1EndpointSlice>> SlicesAsync(string ns, string service, CancellationToken cancellationToken)
    {
        var slices = await _client.DiscoveryV1.ListNamespacedEndpointSliceAsync(
            ns, labelSelector: $"kubernetes.io/service-name={service}", cancellationToken: cancellationToken);
        return slices.Items;
    }

    public void Dispose() => _client.Dispose();
}
