using k8s.Models;

namespace LoadBalancing.Proxy.Kubernetes.Gateway.Model;

/// <summary>A Gateway API v1 Gateway: listeners (port, protocol, hostname) routes attach to.</summary>
internal sealed record Gateway
{
    public V1ObjectMeta Metadata { get; init; } = new();

    public GatewaySpec? Spec { get; init; }

    public GatewayStatus? Status { get; init; }
}

/// <summary>A Gateway's spec.</summary>
internal sealed record GatewaySpec
{
    public string? GatewayClassName { get; init; }

    public IReadOnlyList<Listener>? Listeners { get; init; }
}

/// <summary>One listener: where (port, hostname) and how (protocol, TLS) the Gateway accepts requests, and which routes may attach.</summary>
internal sealed record Listener
{
    public string? Name { get; init; }

    public string? Hostname { get; init; }

    public int Port { get; init; }

    public string? Protocol { get; init; }

    public GatewayTlsConfig? Tls { get; init; }

    public AllowedRoutes? AllowedRoutes { get; init; }
}

/// <summary>A listener's TLS settings.</summary>
internal sealed record GatewayTlsConfig
{
    /// <summary><c>Terminate</c> (the default) or <c>Passthrough</c>.</summary>
    public string? Mode { get; init; }

    public IReadOnlyList<SecretObjectReference>? CertificateRefs { get; init; }
}

/// <summary>A reference to a Secret (or another kind holding a certificate).</summary>
internal sealed record SecretObjectReference
{
    public string? Group { get; init; }

    public string? Kind { get; init; }

    public string? Name { get; init; }

    public string? Namespace { get; init; }
}

/// <summary>Which routes may attach to a listener: by namespace and by kind.</summary>
internal sealed record AllowedRoutes
{
    public RouteNamespaces? Namespaces { get; init; }

    public IReadOnlyList<RouteGroupKind>? Kinds { get; init; }
}

/// <summary>The namespaces routes may come from: <c>Same</c> (the default), <c>All</c> or <c>Selector</c>.</summary>
internal sealed record RouteNamespaces
{
    public string? From { get; init; }

    public V1LabelSelector? Selector { get; init; }
}

/// <summary>A route kind; the group defaults to <c>gateway.networking.k8s.io</c>.</summary>
internal sealed record RouteGroupKind
{
    public string? Group { get; init; }

    public string? Kind { get; init; }
}

/// <summary>The part of a Gateway's status read back (the translator writes status, it never needs the old one).</summary>
internal sealed record GatewayStatus
{
    public IReadOnlyList<V1Condition>? Conditions { get; init; }
}
