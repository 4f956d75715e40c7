using k8s.Models;

namespace LoadBalancing.Proxy.Kubernetes.Gateway.Model;

/// <summary>A Gateway API v1 HTTPRoute: requests matched on a Gateway's listeners and where they go.</summary>
internal sealed record HttpRoute
{
    public V1ObjectMeta Metadata { get; init; } = new();

    public HttpRouteSpec? Spec { get; init; }

    public HttpRouteStatus? Status { get; init; }
}

/// <summary>An HTTPRoute's spec.</summary>
internal sealed record HttpRouteSpec
{
    public IReadOnlyList<ParentReference>? ParentRefs { get; init; }

    public IReadOnlyList<string>? Hostnames { get; init; }

    public IReadOnlyList<HttpRouteRule>? Rules { get; init; }
}

/// <summary>The object a route attaches to: a Gateway (the defaults), optionally one of its listeners by name or port.</summary>
internal sealed record ParentReference
{
    public string? Group { get; init; }

    public string? Kind { get; init; }

    public string? Namespace { get; init; }

    public string? Name { get; init; }

    public string? SectionName { get; init; }

    public int? Port { get; init; }
}

/// <summary>One rule: any of its matches selects it; its filters and backends say what happens.</summary>
internal sealed record HttpRouteRule
{
    public string? Name { get; init; }

    public IReadOnlyList<HttpRouteMatch>? Matches { get; init; }

    public IReadOnlyList<HttpRouteFilter>? Filters { get; init; }

    public IReadOnlyList<HttpBackendRef>? BackendRefs { get; init; }

    public HttpRouteTimeouts? Timeouts { get; init; }
}

/// <summary>A request match: all its conditions must hold.</summary>
internal sealed record HttpRouteMatch
{
    public HttpPathMatch? Path { get; init; }

    public IReadOnlyList<HttpValueMatch>? Headers { get; init; }

    public IReadOnlyList<HttpValueMatch>? QueryParams { get; init; }

    public string? Method { get; init; }
}

/// <summary>A path match: <c>PathPrefix</c> (the default), <c>Exact</c> or <c>RegularExpression</c>.</summary>
internal sealed record HttpPathMatch
{
    public string? Type { get; init; }

    public string? Value { get; init; }
}

/// <summary>A header or query parameter match: <c>Exact</c> (the default) or <c>RegularExpression</c>.</summary>
internal sealed record HttpValueMatch
{
    public string? Type { get; init; }

    public string? Name { get; init; }

    public string? Value { get; init; }
}

/// <summary>A filter; <see cref="Type"/> says which of the other fields is set.</summary>
internal sealed record HttpRouteFilter
{
    public string? Type { get; init; }

    public HttpHeaderFilter? RequestHeaderModifier { get; init; }

    public HttpHeaderFilter? ResponseHeaderModifier { get; init; }

    public HttpRequestRedirectFilter? RequestRedirect { get; init; }

    public HttpUrlRewriteFilter? UrlRewrite { get; init; }

    public LocalObjectReference? ExtensionRef { get; init; }
}

/// <summary>Header changes: set, add, remove.</summary>
internal sealed record HttpHeaderFilter
{
    public IReadOnlyList<HttpHeader>? Set { get; init; }

    public IReadOnlyList<HttpHeader>? Add { get; init; }

    public IReadOnlyList<string>? Remove { get; init; }
}

/// <summary>A header name and value.</summary>
internal sealed record HttpHeader
{
    public string? Name { get; init; }

    public string? Value { get; init; }
}

/// <summary>A redirect answered by the gateway; unset parts keep the request's.</summary>
internal sealed record HttpRequestRedirectFilter
{
    public string? Scheme { get; init; }

    public string? Hostname { get; init; }

    public HttpPathModifier? Path { get; init; }

    public int? Port { get; init; }

    public int? StatusCode { get; init; }
}

/// <summary>A rewrite of the forwarded request's host and path.</summary>
internal sealed record HttpUrlRewriteFilter
{
    public string? Hostname { get; init; }

    public HttpPathModifier? Path { get; init; }
}

/// <summary>A new path: <c>ReplaceFullPath</c> or <c>ReplacePrefixMatch</c>.</summary>
internal sealed record HttpPathModifier
{
    public string? Type { get; init; }

    public string? ReplaceFullPath { get; init; }

    public string? ReplacePrefixMatch { get; init; }
}

/// <summary>A reference to an object in the route's namespace (an ExtensionRef filter's target).</summary>
internal sealed record LocalObjectReference
{
    public string? Group { get; init; }

    public string? Kind { get; init; }

    public string? Name { get; init; }
}

/// <summary>A backend: a Service port (the defaults) with a weight, optionally filters of its own.</summary>
internal sealed record HttpBackendRef
{
    public string? Group { get; init; }

    public string? Kind { get; init; }

    public string? Name { get; init; }

    public string? Namespace { get; init; }

    public int? Port { get; init; }

    public int? Weight { get; init; }

    public IReadOnlyList<HttpRouteFilter>? Filters { get; init; }
}

/// <summary>A rule's timeouts, as Gateway API durations (<c>10s</c>, <c>1m30s</c>, <c>500ms</c>).</summary>
internal sealed record HttpRouteTimeouts
{
    public string? Request { get; init; }

    public string? BackendRequest { get; init; }
}

/// <summary>The route's status: one entry per parent and controller.</summary>
internal sealed record HttpRouteStatus
{
    public IReadOnlyList<RouteParentStatus>? Parents { get; init; }
}

/// <summary>What one controller says about the route on one parent.</summary>
internal sealed record RouteParentStatus
{
    public ParentReference? ParentRef { get; init; }

    public string? ControllerName { get; init; }

    public IReadOnlyList<V1Condition>? Conditions { get; init; }
}
