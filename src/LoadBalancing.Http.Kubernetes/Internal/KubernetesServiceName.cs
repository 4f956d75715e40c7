namespace LoadBalancing.Http.Kubernetes.Internal;

/// <summary>Reads <c>namespace/service[:port]</c>, bare or as the gRPC package's <c>k8s:///namespace/service[:port]</c>.</summary>
internal static class KubernetesServiceName
{
    private const string Scheme = "k8s:///";

    public static (string Namespace, string Service, string? Port) Parse(string value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        var path = value.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) ? value[Scheme.Length..] : value;
        var parts = path.Split('/');
        if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0 || parts[1][0] == ':' || path.Contains("://", StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{value}' is not a Kubernetes Service: use namespace/service or namespace/service:port (port by name or number), optionally as k8s:///namespace/service:port.", nameof(value));
        }

        var colon = parts[1].IndexOf(':', StringComparison.Ordinal);
        return colon < 0
            ? (parts[0], parts[1], null)
            : (parts[0], parts[1][..colon], colon == parts[1].Length - 1 ? null : parts[1][(colon + 1)..]);
    }
}
