using System.Runtime.CompilerServices;
using k8s;
using k8s.KubeConfigModels;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace LoadBalancing.Kubernetes;

/// <summary>
/// Reads a kubeconfig file. Under the JIT, KubernetesClient's own reader does it. Under NativeAOT that reader cannot
/// run (it deserializes YAML by reflection over metadata NativeAOT does not keep: a TypeInitializationException in
/// k8s.KubernetesYaml), so the file is walked as a YAML node tree, which needs no reflection, into the same
/// <see cref="K8SConfiguration"/> model, and KubernetesClient builds the client configuration from it as it does
/// from its own reading (contexts, certificates and their relative paths, tokens, exec plugins).
/// </summary>
internal static class KubeConfigFile
{
    public static KubernetesClientConfiguration Load(string path, string? context) =>
        RuntimeFeature.IsDynamicCodeSupported
            ? KubernetesClientConfiguration.BuildConfigFromConfigFile(path, context)
            : KubernetesClientConfiguration.BuildConfigFromConfigObject(Read(path), context);

    /// <summary>The file as KubernetesClient's model, read without reflection; throws <see cref="InvalidDataException"/> naming what is wrong.</summary>
    public static K8SConfiguration Read(string path)
    {
        var yaml = new YamlStream();
        try
        {
            using var reader = File.OpenText(path);
            yaml.Load(reader);
        }
        catch (YamlException e)
        {
            throw new InvalidDataException($"kubeconfig '{path}' is not valid YAML: {e.Message}", e);
        }

        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new InvalidDataException($"kubeconfig '{path}' holds no mapping (apiVersion, clusters, contexts, users).");
        }

        return new K8SConfiguration
        {
            FileName = Path.GetFullPath(path),
            CurrentContext = Text(root, "current-context"),
            Clusters = Named(root, "clusters", "cluster", (name, node) => new Cluster
            {
                Name = name,
                ClusterEndpoint = node is null ? null : new ClusterEndpoint
                {
                    Server = Text(node, "server"),
                    CertificateAuthority = Text(node, "certificate-authority"),
                    CertificateAuthorityData = Text(node, "certificate-authority-data"),
                    SkipTlsVerify = Flag(node, "insecure-skip-tls-verify"),
                    TlsServerName = Text(node, "tls-server-name"),
                },
            }),
            Users = Named(root, "users", "user", (name, node) => new User
            {
                Name = name,
                UserCredentials = node is null ? null : Credentials(node),
            }),
            Contexts = Named(root, "contexts", "context", (name, node) => new Context
            {
                Name = name,
                ContextDetails = node is null ? null : new ContextDetails
                {
                    Cluster = Text(node, "cluster"),
                    User = Text(node, "user"),
                    Namespace = Text(node, "namespace"),
                },
            }),
        };
    }

    private static UserCredentials Credentials(YamlMappingNode node) => new()
    {
        ClientCertificate = Text(node, "client-certificate"),
        ClientCertificateData = Text(node, "client-certificate-data"),
        ClientKey = Text(node, "client-key"),
        ClientKeyData = Text(node, "client-key-data"),
        Token = Text(node, "token"),
        UserName = Text(node, "username"),
        Password = Text(node, "password"),
        Impersonate = Text(node, "as"),
        AuthProvider = Child(node, "auth-provider") is { } provider
            ? new AuthProvider { Name = Text(provider, "name"), Config = Map(provider, "config") }
            : null,
        ExternalExecution = Child(node, "exec") is { } exec
            ? new ExternalExecution
            {
                ApiVersion = Text(exec, "apiVersion"),
                Command = Text(exec, "command"),
                Arguments = Sequence(exec, "args")?.Select(Scalar).ToList(),
                EnvironmentVariables = Sequence(exec, "env")?.OfType<YamlMappingNode>()
                    .Select(pair => new Dictionary<string, string> { ["name"] = Text(pair, "name") ?? "", ["value"] = Text(pair, "value") ?? "" })
                    .ToList(),
                InstallHint = Text(exec, "installHint"),
                ProvideClusterInfo = Flag(exec, "provideClusterInfo"),
            }
            : null,
    };

    /// <summary>The entries of a kubeconfig list (<c>- name: x, cluster: {...}</c>), built by <paramref name="create"/>.</summary>
    private static List<T> Named<T>(YamlMappingNode root, string list, string field, Func<string?, YamlMappingNode?, T> create)
    {
        var entries = new List<T>();
        foreach (var item in Sequence(root, list) ?? [])
        {
            if (item is YamlMappingNode entry)
            {
                entries.Add(create(Text(entry, "name"), Child(entry, field)));
            }
        }

        return entries;
    }

    private static YamlNode? Node(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    private static YamlMappingNode? Child(YamlMappingNode map, string key) => Node(map, key) as YamlMappingNode;

    private static YamlSequenceNode? Sequence(YamlMappingNode map, string key) => Node(map, key) as YamlSequenceNode;

    private static string? Text(YamlMappingNode map, string key) =>
        Node(map, key) is YamlScalarNode { Value: { } value } scalar && !(scalar.Style == ScalarStyle.Plain && value is "~" or "null" or "") ? value : null;

    private static string Scalar(YamlNode node) => node is YamlScalarNode { Value: { } value } ? value : "";

    private static bool Flag(YamlMappingNode map, string key) =>
        Text(map, key) is { } value && bool.TryParse(value, out var flag) && flag;

    private static Dictionary<string, string>? Map(YamlMappingNode map, string key)
    {
        if (Child(map, key) is not { } child)
        {
            return null;
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in child.Children)
        {
            values[Scalar(name)] = Scalar(value);
        }

        return values;
    }
}
