using LoadBalancing.Proxy.Kubernetes.Gateway.Model;

namespace LoadBalancing.Proxy.Kubernetes.Gateway;

/// <summary>What the translator decided about one listener of one of our Gateways, and the routes attached to it.</summary>
internal sealed class ListenerState(string gateway, string gatewayNamespace, Listener spec)
{
    public string Gateway { get; } = gateway;

    public string GatewayNamespace { get; } = gatewayNamespace;

    public Listener Spec { get; } = spec;

    public string Name => Spec.Name ?? "";

    public int Port => Spec.Port;

    /// <summary>The hostname, lower-cased; null: any.</summary>
    public string? Hostname { get; } = string.IsNullOrEmpty(spec.Hostname) ? null : spec.Hostname.ToLowerInvariant();

    /// <summary>False with <see cref="AcceptedReason"/> when the protocol or port cannot be served.</summary>
    public bool Accepted { get; set; } = true;

    public string AcceptedReason { get; set; } = GatewayConditions.Accepted;

    public string AcceptedMessage { get; set; } = "";

    /// <summary>HostnameConflict or ProtocolConflict; null when the listener is distinct.</summary>
    public string? ConflictReason { get; set; }

    public string ConflictMessage { get; set; } = "";

    /// <summary>False with <see cref="RefsReason"/> for a bad certificate reference or route kind.</summary>
    public bool RefsResolved { get; set; } = true;

    public string RefsReason { get; set; } = GatewayConditions.ResolvedRefs;

    public string RefsMessage { get; set; } = "";

    /// <summary>False when a certificate reference cannot be used: the listener cannot terminate TLS.</summary>
    public bool CertificatesUsable { get; set; } = true;

    /// <summary>The route kinds (HTTPRoute, GRPCRoute) among the listener's supported kinds.</summary>
    public HashSet<string> Kinds { get; } = new(StringComparer.Ordinal);

    public List<ListenerCertificate> Certificates { get; } = [];

    /// <summary>Routes (<c>namespace/name</c>) attached; a set, so a route listing the listener twice counts once.</summary>
    public HashSet<string> AttachedRoutes { get; } = new(StringComparer.Ordinal);

    /// <summary>Whether routes may attach: accepted, distinct and admitting some kind of route.</summary>
    public bool Usable => Accepted && ConflictReason is null && Kinds.Count > 0;

    /// <summary>Whether routes of <paramref name="kind"/> may attach.</summary>
    public bool Takes(GatewayRouteKind kind) => Usable && Kinds.Contains(kind.Kind);

    /// <summary>Whether the proxy serves it: usable and, for HTTPS, with usable certificates.</summary>
    public bool Programmed => Usable && CertificatesUsable;
}
