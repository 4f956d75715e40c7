namespace LoadBalancing.Yarp.Kubernetes.Resolving;

/// <summary>A parsed <c>k8s:///namespace/service[:port][/path]</c> or <c>k8s+https:///…</c> destination address.</summary>
internal sealed record KubernetesAddress(bool Https, string Namespace, string Service, string? Port, string Path)
{
    private const string Forms = "use k8s:///namespace/service, k8s:///namespace/service:port or k8s:///namespace/service:port/path (k8s+https:/// for HTTPS; the port by name or number)";

    /// <summary>The key discovery names the Service port's source by: <c>namespace/service[:port]</c>.</summary>
    public string SourceName => Port is null ? $"{Namespace}/{Service}" : $"{Namespace}/{Service}:{Port}";

    /// <summary>
    /// Parses a destination address. False with no error for an address of another scheme (it is not ours); false
    /// with an error for a Kubernetes address that is malformed.
    /// </summary>
    public static bool TryParse(string? address, out KubernetesAddress? parsed, out string? error)
    {
        parsed = null;
        error = null;
        if (address is null)
        {
            return false;
        }

        var trimmed = address.Trim();
        var separator = trimmed.IndexOf("://", StringComparison.Ordinal);
        if (separator < 0)
        {
            return false;
        }

        var scheme = trimmed[..separator];
        bool https;
        if (scheme.Equals(KubernetesDestinationAddress.Scheme, StringComparison.OrdinalIgnoreCase))
        {
            https = false;
        }
        else if (scheme.Equals(KubernetesDestinationAddress.HttpsScheme, StringComparison.OrdinalIgnoreCase))
        {
            https = true;
        }
        else
        {
            return false;
        }

        var rest = trimmed[(separator + 3)..];
        if (!rest.StartsWith('/'))
        {
            // k8s://namespace/service would read the namespace as a host name; the gRPC resolver refuses it too.
            error = $"'{address}' has an authority; {Forms}.";
            return false;
        }

        if (rest.AsSpan().IndexOfAny('?', '#') >= 0)
        {
            error = $"'{address}' has a query or fragment; {Forms}.";
            return false;
        }

        var parts = rest[1..].Split('/', 3);
        if (parts.Length < 2 || parts[0].Length == 0 || parts[1].Length == 0 || parts[0].Contains(':', StringComparison.Ordinal))
        {
            error = $"'{address}' does not name a namespace and a Service; {Forms}.";
            return false;
        }

        var service = parts[1];
        string? port = null;
        var colon = service.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            port = colon == service.Length - 1 ? null : service[(colon + 1)..];
            service = service[..colon];
            if (service.Length == 0)
            {
                error = $"'{address}' does not name a Service; {Forms}.";
                return false;
            }
        }

        var path = parts.Length == 3 ? "/" + parts[2] : "/";
        parsed = new KubernetesAddress(https, parts[0], service, port, path);
        return true;
    }
}
