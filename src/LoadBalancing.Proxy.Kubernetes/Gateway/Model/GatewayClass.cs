using k8s.Models;

namespace LoadBalancing.Proxy.Kubernetes.Gateway.Model;

/// <summary>A Gateway API v1 GatewayClass: which controller serves the Gateways that name it.</summary>
internal sealed record GatewayClass
{
    public V1ObjectMeta Metadata { get; init; } = new();

    public GatewayClassSpec? Spec { get; init; }
}

/// <summary>The part of a GatewayClass's spec the translator reads.</summary>
internal sealed record GatewayClassSpec
{
    public string? ControllerName { get; init; }

    public string? Description { get; init; }
}
