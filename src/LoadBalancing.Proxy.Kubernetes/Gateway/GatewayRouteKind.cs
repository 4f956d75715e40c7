using LoadBalancing.Proxy.Kubernetes.Api;

namespace LoadBalancing.Proxy.Kubernetes.Gateway;

/// <summary>
/// A kind of route a Gateway listener takes, and what differs between the kinds: names, the answer of a rule that
/// cannot be served, and the protocol its backends are spoken to with.
/// </summary>
/// <param name="Kind">The kind as the API names it.</param>
/// <param name="Api">Where its objects and their status live.</param>
/// <param name="NamePrefix">The start of the proxy routes' names.</param>
/// <param name="FailureStatus">
/// The status of a match whose rule cannot be served: 500 for HTTP, as the spec asks; 503 for gRPC, which a gRPC client
/// reads as UNAVAILABLE, the code GRPCRoute asks for.
/// </param>
/// <param name="Http2Backends">Whether its backends must be spoken to over HTTP/2 (gRPC).</param>
internal sealed record GatewayRouteKind(string Kind, ApiKind Api, string NamePrefix, int FailureStatus, bool Http2Backends)
{
    public static readonly GatewayRouteKind Http = new("HTTPRoute", ApiKind.HttpRoute, "httproute", 500, Http2Backends: false);

    public static readonly GatewayRouteKind Grpc = new("GRPCRoute", ApiKind.GrpcRoute, "grpcroute", 503, Http2Backends: true);

    /// <summary>Every kind, in the order listener status lists them.</summary>
    public static readonly IReadOnlyList<GatewayRouteKind> All = [Http, Grpc];

    public override string ToString() => Kind;
}
