namespace LoadBalancing.Proxy.Kubernetes.Api;

/// <summary>
/// A kind of Kubernetes object the controller reads or writes: where it lives in the API, whether it is namespaced, and
/// whether its status is a subresource that leaves <c>metadata.generation</c> alone (so a change that keeps the
/// generation, labels and annotations is a status write, which routing does not read).
/// </summary>
internal sealed record ApiKind(string Group, string Version, string Plural, string Kind, bool Namespaced, bool StatusSubresource = false)
{
    public static readonly ApiKind Service = new("", "v1", "services", "Service", Namespaced: true);
    public static readonly ApiKind Secret = new("", "v1", "secrets", "Secret", Namespaced: true);
    public static readonly ApiKind Namespace = new("", "v1", "namespaces", "Namespace", Namespaced: false);
    public static readonly ApiKind Ingress = new("networking.k8s.io", "v1", "ingresses", "Ingress", Namespaced: true, StatusSubresource: true);
    public static readonly ApiKind IngressClass = new("networking.k8s.io", "v1", "ingressclasses", "IngressClass", Namespaced: false);
    public static readonly ApiKind GatewayClass = new("gateway.networking.k8s.io", "v1", "gatewayclasses", "GatewayClass", Namespaced: false, StatusSubresource: true);
    public static readonly ApiKind Gateway = new("gateway.networking.k8s.io", "v1", "gateways", "Gateway", Namespaced: true, StatusSubresource: true);
    public static readonly ApiKind HttpRoute = new("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", Namespaced: true, StatusSubresource: true);
    public static readonly ApiKind GrpcRoute = new("gateway.networking.k8s.io", "v1", "grpcroutes", "GRPCRoute", Namespaced: true, StatusSubresource: true);
    public static readonly ApiKind ReferenceGrant = new("gateway.networking.k8s.io", "v1beta1", "referencegrants", "ReferenceGrant", Namespaced: true);
    public static readonly ApiKind Lease = new("coordination.k8s.io", "v1", "leases", "Lease", Namespaced: true);

    /// <summary><c>v1</c> for the core group, <c>group/version</c> otherwise.</summary>
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    /// <summary>
    /// The collection's path relative to the API server's base address: in <paramref name="ns"/>, or across all
    /// namespaces when it is null (and always for cluster-scoped kinds).
    /// </summary>
    public string CollectionPath(string? ns)
    {
        var root = Group.Length == 0 ? $"api/{Version}" : $"apis/{Group}/{Version}";
        return Namespaced && ns is not null ? $"{root}/namespaces/{Uri.EscapeDataString(ns)}/{Plural}" : $"{root}/{Plural}";
    }

    /// <summary>One object's path; <paramref name="subresource"/> is for example <c>status</c>.</summary>
    public string ObjectPath(string? ns, string name, string? subresource = null)
    {
        var path = $"{CollectionPath(Namespaced ? ns ?? "default" : null)}/{Uri.EscapeDataString(name)}";
        return subresource is null ? path : $"{path}/{subresource}";
    }

    public override string ToString() => Group.Length == 0 ? Plural : $"{Plural}.{Group}";
}
