using System.Text.Json.Nodes;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Kubernetes.Api;
using static LoadBalancing.Kubernetes.Tests.Support.Objects;
using static LoadBalancing.Proxy.Kubernetes.Tests.Gateway.GatewayFixture;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Gateway;

/// <summary>GRPCRoutes on the translator's output and status: matches as paths, precedence, backends over HTTP/2, listeners' kinds.</summary>
public sealed class GrpcRouteTranslationTests
{
    private const string Echo = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";
    private static readonly ServicePort Grpc8080 = new(null, 8080);
    private static readonly ServicePort H2c8080 = new(null, 8080, AppProtocol: "kubernetes.io/h2c");

    [Fact]
    public void ExactMethodMatching_ServiceAndMethodIsAnExactPath_AMethodAloneAnExpression_BackendsOverHttp2()
    {
        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "grpc-v1", Grpc8080).Service(Infra, "grpc-v2", H2c8080)
            .Route(GrpcRoute("exact-matching", [new ParentRef("gw")],
            [
                new GrpcRule([new GrpcMatch(Echo, "Echo")], [new BackendRef("grpc-v1", 8080)]),
                new GrpcRule([new GrpcMatch(Method: "EchoTwo")], [new BackendRef("grpc-v2", 8080)]),
            ], ns: Infra), generation: 2)
            .Translate();

        Assert.Equal(["grpcroute:infra/exact-matching:0:0", "grpcroute:infra/exact-matching:1:0"], result.Set.Routes.Select(r => r.Name!));
        var exact = result.Set.Routes[0];
        Assert.Equal(($"/{Echo}/Echo", PathMatchType.Exact, "gateway:infra/grpc-v1:-@grpc"), (exact.Path, exact.PathType, exact.Cluster));
        var method = result.Set.Routes[1];
        Assert.Equal(("/[^/]+/EchoTwo", PathMatchType.RegularExpression, "gateway:infra/grpc-v2:-"), (method.Path, method.PathType, method.Cluster));
        Assert.Equal("GRPCRoute", exact.Origin!.Kind);

        // A port that says nothing of its protocol gets an HTTP/2 copy of its cluster; one that says h2c is used as it is.
        Assert.Equal(UpstreamProtocol.Http2, result.Set.Clusters["gateway:infra/grpc-v1:-@grpc"].Protocol);
        Assert.Equal(UpstreamProtocol.Http2, result.Set.Clusters["gateway:infra/grpc-v2:-"].Protocol);
        Assert.Equal(("True", "Accepted", 2L), RouteCondition(result, Infra, "exact-matching", "Accepted", kind: ApiKind.GrpcRoute));
        Assert.Equal(("True", "ResolvedRefs", 2L), RouteCondition(result, Infra, "exact-matching", "ResolvedRefs", kind: ApiKind.GrpcRoute));
        var listener = ListenerStatus(result, Infra, "gw", "http");
        Assert.Equal(1, (int)listener["attachedRoutes"]!);
        Assert.Equal(["HTTPRoute", "GRPCRoute"], listener["supportedKinds"]!.AsArray().Select(k => (string)k!["kind"]!));
        Assert.Empty(result.Problems);
        Validates(result.Set);
    }

    [Fact]
    public void Precedence_ExactServiceCharacters_ThenExactMethodCharacters_ThenHeaders_ThenAge()
    {
        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "a", H2c8080).Service(Infra, "b", H2c8080)
            .Route(GrpcRoute("older", [new ParentRef("gw")],
            [
                new GrpcRule([new GrpcMatch(Method: "Echo")], [new BackendRef("a", 8080)]),
                new GrpcRule([new GrpcMatch(Headers: new Dictionary<string, string> { ["version"] = "one" })], [new BackendRef("a", 8080)]),
                new GrpcRule([new GrpcMatch(Method: "Echo", Headers: new Dictionary<string, string> { ["version"] = "two" })], [new BackendRef("a", 8080)]),
            ], ns: Infra), createdDay: 1)
            .Route(GrpcRoute("newer", [new ParentRef("gw")],
            [
                new GrpcRule([new GrpcMatch(Service: "pkg.Svc")], [new BackendRef("b", 8080)]),
                new GrpcRule([new GrpcMatch("pkg.Svc", "Echo")], [new BackendRef("b", 8080)]),
                new GrpcRule([new GrpcMatch("pkg.(Svc|Other)", "E.*", "RegularExpression")], [new BackendRef("b", 8080)]),
            ], ns: Infra), createdDay: 2)
            .Translate();

        // The newer route's service match comes before the older's method match: the service counts first. Among
        // equal characters, more header matches first; expressions count no characters.
        Assert.Equal(
        [
            "grpcroute:infra/newer:1:0", // service and method, 7 + 4
            "grpcroute:infra/newer:0:0", // service, 7
            "grpcroute:infra/older:2:0", // method, 4, one header
            "grpcroute:infra/older:0:0", // method, 4
            "grpcroute:infra/older:1:0", // one header
            "grpcroute:infra/newer:2:0", // expressions
        ], result.Set.Routes.Select(r => r.Name!));
        Assert.Equal(@"/pkg\.Svc/[^/]+", result.Set.Routes[1].Path);
        Assert.Equal(("/", PathMatchType.Prefix), (result.Set.Routes[4].Path, result.Set.Routes[4].PathType));
        Assert.Equal("/(?:pkg.(Svc|Other))/(?:E.*)", result.Set.Routes[5].Path);
        Validates(result.Set);
    }

    [Fact]
    public void AServicePolicyThatCannotBeApplied_IsReportedForTheHttp2CopyOfItsCluster()
    {
        var result = new GatewayFixture().SameNamespaceGateway()
            .Service(Infra, "a", new Dictionary<string, string> { ["loadbalancing.dev/algorithm"] = "Nope" }, Grpc8080)
            .Route(GrpcRoute("policy", [new ParentRef("gw")], [new GrpcRule(BackendRefs: [new BackendRef("a", 8080)])], ns: Infra))
            .Translate();

        Assert.Equal("gateway:infra/a:-@grpc", Assert.Single(result.Set.Routes).Cluster);
        Assert.Equal(("True", "Accepted", 1L), RouteCondition(result, Infra, "policy", "Accepted", kind: ApiKind.GrpcRoute));
        var accepted = StatusOf(result, ApiKind.GrpcRoute, Infra, "policy")["parents"]![0]!["conditions"]!.AsArray().Single(c => (string?)c!["type"] == "Accepted")!;
        Assert.Contains("Backend policy not applied", (string)accepted["message"]!, StringComparison.Ordinal);
    }

    [Fact]
    public void ABackendWhosePortSaysHttp11_IsUnsupportedProtocol_AndItsCallsAnswer503()
    {
        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "web", new ServicePort(null, 8080, AppProtocol: "http"))
            .Route(GrpcRoute("http1", [new ParentRef("gw")], [new GrpcRule(BackendRefs: [new BackendRef("web", 8080)])], ns: Infra))
            .Translate();

        var route = Assert.Single(result.Set.Routes);
        Assert.Equal(503, route.DirectResponse?.StatusCode);
        Assert.Equal(("False", "UnsupportedProtocol", 1L), RouteCondition(result, Infra, "http1", "ResolvedRefs", kind: ApiKind.GrpcRoute));
        Assert.Contains(result.Problems, p => p.StartsWith("GRPCRoute infra/http1:", StringComparison.Ordinal) && p.Contains("answer 503", StringComparison.Ordinal));
        Validates(result.Set);
    }

    [Fact]
    public void AMethodMatchNamingNeither_OrOfAnUnknownType_IsNotAccepted()
    {
        var route = GrpcRoute("bad", [new ParentRef("gw")], [new GrpcRule([new GrpcMatch(Echo, "Echo")], [new BackendRef("a", 8080)])], ns: Infra);
        route["spec"]!["rules"]![0]!["matches"]![0]!["method"] = new JsonObject { ["type"] = "Exact" };
        var unknown = GrpcRoute("unknown", [new ParentRef("gw")], [new GrpcRule([new GrpcMatch(Echo, "Echo", "Prefix")], [new BackendRef("a", 8080)])], ns: Infra);

        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "a", H2c8080).Route(route).Route(unknown, createdDay: 2).Translate();

        Assert.Equal(("False", "UnsupportedValue", 1L), RouteCondition(result, Infra, "bad", "Accepted", kind: ApiKind.GrpcRoute));
        Assert.Equal(("False", "UnsupportedValue", 1L), RouteCondition(result, Infra, "unknown", "Accepted", kind: ApiKind.GrpcRoute));
        Assert.Equal(0, (int)ListenerStatus(result, Infra, "gw", "http")["attachedRoutes"]!);
    }

    [Fact]
    public void ListenerKinds_AnHttpRouteOnlyListenerRefusesGrpcRoutes_AGrpcRouteOnlyListenerListsOnlyThat()
    {
        var result = new GatewayFixture()
            .Gateway(Objects.Gateway("gw", "lb",
            [
                new Listener("http-only", 80, AllowedRoutes: new AllowedRoutes(Kinds: ["HTTPRoute"])),
                new Listener("grpc-only", 81, AllowedRoutes: new AllowedRoutes(Kinds: ["GRPCRoute"])),
            ], ns: Infra))
            .Service(Infra, "a", H2c8080)
            .Route(GrpcRoute("refused", [new ParentRef("gw", SectionName: "http-only")], [new GrpcRule(BackendRefs: [new BackendRef("a", 8080)])], ns: Infra))
            .Route(GrpcRoute("taken", [new ParentRef("gw", SectionName: "grpc-only")], [new GrpcRule(BackendRefs: [new BackendRef("a", 8080)])], ns: Infra))
            .Translate();

        Assert.Equal(("False", "NotAllowedByListeners", 1L), RouteCondition(result, Infra, "refused", "Accepted", kind: ApiKind.GrpcRoute));
        Assert.Equal(("True", "Accepted", 1L), RouteCondition(result, Infra, "taken", "Accepted", kind: ApiKind.GrpcRoute));
        Assert.Equal([81], Assert.Single(result.Set.Routes).Ports);
        Assert.Equal(["GRPCRoute"], ListenerStatus(result, Infra, "gw", "grpc-only")["supportedKinds"]!.AsArray().Select(k => (string)k!["kind"]!));
        Assert.Equal(["HTTPRoute"], ListenerStatus(result, Infra, "gw", "http-only")["supportedKinds"]!.AsArray().Select(k => (string)k!["kind"]!));
    }

    [Fact]
    public void AListenerTheProxyServesWithHttp1Only_TakesNoGrpcRoutes_AndSaysWhyWhenAskedFor()
    {
        var result = new GatewayFixture { Http1OnlyPorts = new HashSet<int> { 80, 81 } }
            .Gateway(Objects.Gateway("gw", "lb",
            [
                new Listener("http", 80),
                new Listener("asks", 81, AllowedRoutes: new AllowedRoutes(Kinds: ["GRPCRoute"])),
                new Listener("h2c", 82),
            ], ns: Infra))
            .Service(Infra, "a", H2c8080)
            .Route(GrpcRoute("grpc", [new ParentRef("gw")], [new GrpcRule(BackendRefs: [new BackendRef("a", 8080)])], ns: Infra))
            .Translate();

        Assert.Equal(["HTTPRoute"], ListenerStatus(result, Infra, "gw", "http")["supportedKinds"]!.AsArray().Select(k => (string)k!["kind"]!));
        var asks = ListenerStatus(result, Infra, "gw", "asks");
        Assert.Empty(asks["supportedKinds"]!.AsArray());
        Assert.Equal(("False", "InvalidRouteKinds", 1L), Condition(asks["conditions"]!.AsArray(), "ResolvedRefs"));
        Assert.Contains("HTTP/1.1 only", (string)asks["conditions"]!.AsArray().Single(c => (string?)c!["type"] == "ResolvedRefs")!["message"]!, StringComparison.Ordinal);

        // The route attaches where gRPC can arrive: port 82 only.
        Assert.Equal([82], Assert.Single(result.Set.Routes).Ports);
        Assert.Equal(("True", "Accepted", 1L), RouteCondition(result, Infra, "grpc", "Accepted", kind: ApiKind.GrpcRoute));
    }

    [Fact]
    public void AReferenceGrantForHttpRoutes_DoesNotOpenAServiceToGrpcRoutes()
    {
        var http = ReferenceGrant("http", "web", [(GatewayGroup, "HTTPRoute", Infra)], [("", "Service", "h")]);
        var grpc = ReferenceGrant("grpc", "web", [(GatewayGroup, "GRPCRoute", Infra)], [("", "Service", "g")]);
        var result = new GatewayFixture().SameNamespaceGateway().Service("web", "h", H2c8080).Service("web", "g", H2c8080).Grant(http).Grant(grpc)
            .Route(GrpcRoute("to-h", [new ParentRef("gw")], [new GrpcRule([new GrpcMatch(Service: "h.Svc")], [new BackendRef("h", 8080, Namespace: "web")])], ns: Infra))
            .Route(GrpcRoute("to-g", [new ParentRef("gw")], [new GrpcRule([new GrpcMatch(Service: "g.Svc")], [new BackendRef("g", 8080, Namespace: "web")])], ns: Infra))
            .Translate();

        Assert.Equal(("False", "RefNotPermitted", 1L), RouteCondition(result, Infra, "to-h", "ResolvedRefs", kind: ApiKind.GrpcRoute));
        Assert.Equal(("True", "ResolvedRefs", 1L), RouteCondition(result, Infra, "to-g", "ResolvedRefs", kind: ApiKind.GrpcRoute));
        Assert.Equal("gateway:web/g:-", result.Set.Routes.Single(r => r.Path.Contains("g\\.Svc", StringComparison.Ordinal)).Cluster);
    }

    [Fact]
    public void AnHttpRouteAndAGrpcRouteMatchingTheSameWay_TheOlderKeepsIt_WhateverItsKind()
    {
        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "web", H2c8080)
            .Route(GrpcRoute("grpc", [new ParentRef("gw")], [new GrpcRule(BackendRefs: [new BackendRef("web", 8080)])], ["example.com"], Infra), createdDay: 1)
            .Route(HttpRoute("http", [new ParentRef("gw")], [new RouteRule(BackendRefs: [new BackendRef("web", 8080)])], ["example.com"], Infra), createdDay: 2)
            .Translate();

        Assert.Equal("grpcroute:infra/grpc:0:0", Assert.Single(result.Set.Routes).Name);
        Assert.Contains(result.Problems, p => p.Contains("already routed by the older GRPCRoute infra/grpc", StringComparison.Ordinal));
    }
}
