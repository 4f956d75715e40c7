namespace LoadBalancing.Kubernetes.Tests.Support;

/// <summary>
/// A kind the fake API server serves: its group/version/resource, its kind, whether it lives in a namespace, whether it has
/// a <c>/status</c> subresource, and whether it is a custom resource (CRD objects keep <c>apiVersion</c>/<c>kind</c> in
/// list items; built-in kinds do not).
/// </summary>
internal sealed record ApiResource(string Group, string Version, string Plural, string Kind, bool Namespaced, bool HasStatus = false, bool Custom = false)
{
    public static readonly ApiResource EndpointSlices = new("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", Namespaced: true);
    public static readonly ApiResource Services = new("", "v1", "services", "Service", Namespaced: true, HasStatus: true);
    public static readonly ApiResource Ingresses = new("networking.k8s.io", "v1", "ingresses", "Ingress", Namespaced: true, HasStatus: true);
    public static readonly ApiResource IngressClasses = new("networking.k8s.io", "v1", "ingressclasses", "IngressClass", Namespaced: false);
    public static readonly ApiResource GatewayClasses = new("gateway.networking.k8s.io", "v1", "gatewayclasses", "GatewayClass", Namespaced: false, HasStatus: true, Custom: true);
    public static readonly ApiResource Gateways = new("gateway.networking.k8s.io", "v1", "gateways", "Gateway", Namespaced: true, HasStatus: true, Custom: true);
    public static readonly ApiResource HttpRoutes = new("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", Namespaced: true, HasStatus: true, Custom: true);
    public static readonly ApiResource GrpcRoutes = new("gateway.networking.k8s.io", "v1", "grpcroutes", "GRPCRoute", Namespaced: true, HasStatus: true, Custom: true);
    public static readonly ApiResource ReferenceGrants = new("gateway.networking.k8s.io", "v1beta1", "referencegrants", "ReferenceGrant", Namespaced: true, Custom: true);
    public static readonly ApiResource Secrets = new("", "v1", "secrets", "Secret", Namespaced: true);
    public static readonly ApiResource Namespaces = new("", "v1", "namespaces", "Namespace", Namespaced: false, HasStatus: true);
    public static readonly ApiResource Leases = new("coordination.k8s.io", "v1", "leases", "Lease", Namespaced: true);
    public static readonly ApiResource Pods = new("", "v1", "pods", "Pod", Namespaced: true, HasStatus: true);

    public static readonly IReadOnlyList<ApiResource> All =
        [EndpointSlices, Services, Ingresses, IngressClasses, GatewayClasses, Gateways, HttpRoutes, GrpcRoutes, ReferenceGrants, Secrets, Namespaces, Leases, Pods];

    /// <summary><c>v1</c> for the core group, <c>group/version</c> otherwise.</summary>
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    /// <summary>How errors name the resource: <c>ingresses.networking.k8s.io</c>, or <c>services</c> in the core group.</summary>
    public string QualifiedName => Group.Length == 0 ? Plural : $"{Plural}.{Group}";

    public override string ToString() => QualifiedName;

    /// <summary>
    /// Reads a request path: <c>/api/v1/…</c> or <c>/apis/{group}/{version}/…</c>, then <c>[namespaces/{ns}/]{plural}[/{name}[/{subresource}]]</c>.
    /// <paramref name="ns"/> is empty for cluster-scoped kinds and for all-namespaces collections.
    /// </summary>
    public static bool TryParsePath(string path, out ApiResource resource, out string ns, out string? name, out string? subresource)
    {
        resource = EndpointSlices;
        ns = "";
        name = null;
        subresource = null;
        var parts = path.Trim('/').Split('/');
        int rest;
        string group, version;
        if (parts.Length >= 3 && parts[0] == "api")
        {
            (group, version, rest) = ("", parts[1], 2);
        }
        else if (parts.Length >= 4 && parts[0] == "apis")
        {
            (group, version, rest) = (parts[1], parts[2], 3);
        }
        else
        {
            return false;
        }

        var namespaced = false;
        if (parts.Length - rest >= 3 && parts[rest] == "namespaces")
        {
            ns = Uri.UnescapeDataString(parts[rest + 1]);
            namespaced = true;
            rest += 2;
        }

        var tail = parts.Length - rest;
        if (tail is < 1 or > 3)
        {
            return false;
        }

        var plural = parts[rest];
        var found = All.FirstOrDefault(r => r.Group == group && r.Version == version && r.Plural == plural);
        if (found is null || (namespaced && !found.Namespaced))
        {
            return false;
        }

        // A namespaced kind addressed without a namespace is only its all-namespaces collection.
        if (found.Namespaced && !namespaced && tail > 1)
        {
            return false;
        }

        resource = found;
        name = tail >= 2 ? Uri.UnescapeDataString(parts[rest + 1]) : null;
        subresource = tail == 3 ? parts[rest + 2] : null;
        return true;
    }
}

/// <summary>What a request does, for fault injection and counting.</summary>
internal enum ApiVerb
{
    List,
    Watch,
    Get,
    Create,
    Update,
    Patch,
    Delete,
}
