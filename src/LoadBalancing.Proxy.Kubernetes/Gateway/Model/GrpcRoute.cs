using k8s.Models;

namespace LoadBalancing.Proxy.Kubernetes.Gateway.Model;

/// <summary>A Gateway API v1 GRPCRoute: gRPC calls matched on a Gateway's listeners by service, method and metadata.</summary>
internal sealed record GrpcRoute
{
    public V1ObjectMeta Metadata { get; init; } = new();

    public GrpcRouteSpec? Spec { get; init; }

    public HttpRouteStatus? Status { get; init; }
}

/// <summary>A GRPCRoute's spec: parents and hostnames as an HTTPRoute's.</summary>
internal sealed record GrpcRouteSpec
{
    public IReadOnlyList<ParentReference>? ParentRefs { get; init; }

    public IReadOnlyList<string>? Hostnames { get; init; }

    public IReadOnlyList<GrpcRouteRule>? Rules { get; init; }
}

/// <summary>One rule: any of its matches selects it (none: every call); filters and backends as an HTTPRoute rule's.</summary>
internal sealed record GrpcRouteRule
{
    public string? Name { get; init; }

    public IReadOnlyList<GrpcRouteMatch>? Matches { get; init; }

    public IReadOnlyList<HttpRouteFilter>? Filters { get; init; }

    public IReadOnlyList<HttpBackendRef>? BackendRefs { get; init; }
}

/// <summary>A call match: its method match and every header (metadata) match must hold.</summary>
internal sealed record GrpcRouteMatch
{
    public GrpcMethodMatch? Method { get; init; }

    public IReadOnlyList<HttpValueMatch>? Headers { get; init; }
}

/// <summary>The service and method of a call (its path is <c>/service/method</c>): <c>Exact</c> (the default) or <c>RegularExpression</c>.</summary>
internal sealed record GrpcMethodMatch
{
    public string? Type { get; init; }

    public string? Service { get; init; }

    public string? Method { get; init; }
}
