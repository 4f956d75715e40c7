using k8s.Models;

namespace LoadBalancing.Proxy.Kubernetes.Gateway.Model;

/// <summary>
/// A Gateway API v1beta1 ReferenceGrant: lives in the namespace of the objects referred to and lets the listed
/// kinds in other namespaces refer to them.
/// </summary>
internal sealed record ReferenceGrant
{
    public V1ObjectMeta Metadata { get; init; } = new();

    public ReferenceGrantSpec? Spec { get; init; }
}

/// <summary>Who may refer (<see cref="From"/>) to what (<see cref="To"/>).</summary>
internal sealed record ReferenceGrantSpec
{
    public IReadOnlyList<ReferenceGrantFrom>? From { get; init; }

    public IReadOnlyList<ReferenceGrantTo>? To { get; init; }
}

/// <summary>A kind in a namespace allowed to refer.</summary>
internal sealed record ReferenceGrantFrom
{
    public string? Group { get; init; }

    public string? Kind { get; init; }

    public string? Namespace { get; init; }
}

/// <summary>A kind (optionally one object by name) in the grant's namespace that may be referred to.</summary>
internal sealed record ReferenceGrantTo
{
    public string? Group { get; init; }

    public string? Kind { get; init; }

    public string? Name { get; init; }
}
