using System.Text.Json.Nodes;
using LoadBalancing.Proxy.Kubernetes.Api;
using LoadBalancing.Kubernetes.Tests.Support;
using static LoadBalancing.Kubernetes.Tests.Support.Objects;
using static LoadBalancing.Proxy.Kubernetes.Tests.Gateway.GatewayFixture;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Gateway;

/// <summary>The Gateway API conformance HTTPRoute Core cases, checked on the translator's output and status.</summary>
public sealed class HttpRouteConformanceTests
{
    private static readonly ServicePort Http8080 = new(null, 8080);

    [Fact]
    public void HTTPRouteSimpleSameNamespace_RoutesToTheServicePort_OnTheListenerPort_AndIsAccepted()
    {
        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "infra-backend-v1", Http8080)
            .Route(HttpRoute("gateway-conformance-infra-test", [new ParentRef("gw")], [new RouteRule(BackendRefs: [new BackendRef("infra-backend-v1", 8080)])], ns: Infra), generation: 3)
            .Translate();

        var route = Assert.Single(result.Set.Routes);
        Assert.Equal("httproute:infra/gateway-conformance-infra-test:0:0", route.Name);
        Assert.Equal(("/", PathMatchType.Prefix, "gateway:infra/infra-backend-v1:-"), (route.Path, route.PathType, route.Cluster));
        Assert.Empty(route.Hosts);
        Assert.Equal([80], route.Ports);
        var kubernetes = result.Set.Clusters["gateway:infra/infra-backend-v1:-"].Kubernetes!;
        Assert.Equal(("infra", "infra-backend-v1", (string?)null), (kubernetes.Namespace, kubernetes.Service, kubernetes.Port));
        Assert.Equal(("True", "Accepted", 3L), RouteCondition(result, Infra, "gateway-conformance-infra-test", "Accepted"));
        Assert.Equal(("True", "ResolvedRefs", 3L), RouteCondition(result, Infra, "gateway-conformance-infra-test", "ResolvedRefs"));
        Assert.Equal(1, (int)ListenerStatus(result, Infra, "gw", "http")["attachedRoutes"]!);
        Assert.Empty(result.Problems);
        Validates(result.Set);
    }

    [Fact]
    public void HTTPRouteMatching_EachMatchBecomesARoute_WithPathHeadersQueryAndMethod()
    {
        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "v1", Http8080).Service(Infra, "v2", Http8080)
            .Route(HttpRoute("matching", [new ParentRef("gw")],
            [
                new RouteRule([new RouteMatch("/"), new RouteMatch(Headers: new Dictionary<string, string> { ["version"] = "one" })], [new BackendRef("v1", 8080)]),
                new RouteRule([new RouteMatch("/v2", "Exact", QueryParams: new Dictionary<string, string> { ["q"] = "1" }, Method: "POST"), new RouteMatch("/re/[a-z]+", "RegularExpression")], [new BackendRef("v2", 8080)]),
            ], ns: Infra))
            .Translate();

        Assert.Equal(
            ["httproute:infra/matching:0:0", "httproute:infra/matching:0:1", "httproute:infra/matching:1:0", "httproute:infra/matching:1:1"],
            result.Set.Routes.Select(r => r.Name!));
        var header = result.Set.Routes[1];
        Assert.Equal(("version", "one", ValueMatchType.Exact), (header.Headers[0].Name, header.Headers[0].Value, header.Headers[0].Type));
        var exact = result.Set.Routes[2];
        Assert.Equal(("/v2", PathMatchType.Exact, "POST", "q"), (exact.Path, exact.PathType, exact.Methods[0], exact.QueryParameters[0].Name));
        Assert.Equal(PathMatchType.RegularExpression, result.Set.Routes[3].PathType);
        Validates(result.Set);
    }

    [Fact]
    public void HTTPRouteMatchingAcrossRoutes_OlderRouteFirst_ThenNamespaceName_AndTheOlderKeepsAnIdenticalMatch()
    {
        var result = new GatewayFixture().SameNamespaceGateway("All").Service("a", "web", Http8080).Service("b", "web", Http8080).Service("c", "web", Http8080)
            .Route(HttpRoute("newer", [new ParentRef("gw", Infra)], [new RouteRule([new RouteMatch("/api")], [new BackendRef("web", 8080)])], ns: "c"), createdDay: 3)
            .Route(HttpRoute("z-older", [new ParentRef("gw", Infra)], [new RouteRule([new RouteMatch("/api")], [new BackendRef("web", 8080)])], ns: "b"), createdDay: 1)
            .Route(HttpRoute("a-older", [new ParentRef("gw", Infra)], [new RouteRule([new RouteMatch("/api/x")], [new BackendRef("web", 8080)])], ns: "a"), createdDay: 1)
            .Translate();

        Assert.Equal(["httproute:a/a-older:0:0", "httproute:b/z-older:0:0"], result.Set.Routes.Select(r => r.Name!));
        Assert.Contains(result.Problems, p => p.Contains("HTTPRoute c/newer", StringComparison.Ordinal) && p.Contains("older HTTPRoute b/z-older", StringComparison.Ordinal));
        Validates(result.Set);
    }

    [Fact]
    public void HTTPRouteHeaderMatching_RegularExpressionHeaders_AreKept_AndABadPatternNeverBreaksTheSet()
    {
        var route = HttpRoute("headers", [new ParentRef("gw")], [new RouteRule([new RouteMatch(Headers: new Dictionary<string, string> { ["x"] = "y" })], [new BackendRef("web", 8080)])], ns: Infra);
        route["spec"]!["rules"]![0]!["matches"]![0]!["headers"]![0]!["type"] = "RegularExpression";
        route["spec"]!["rules"]![0]!["matches"]![0]!["headers"]![0]!["value"] = "v[0-9]+";
        var bad = HttpRoute("bad-regex", [new ParentRef("gw")], [new RouteRule([new RouteMatch("/bad")], [new BackendRef("web", 8080)])], ns: Infra);
        bad["spec"]!["rules"]![0]!["matches"]![0]!["path"] = new JsonObject { ["type"] = "RegularExpression", ["value"] = "/(unclosed" };

        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "web", Http8080).Route(route).Route(bad, createdDay: 2).Translate();

        var only = Assert.Single(result.Set.Routes);
        Assert.Equal(ValueMatchType.RegularExpression, only.Headers[0].Type);
        Assert.Equal(("False", "UnsupportedValue", 1L), RouteCondition(result, Infra, "bad-regex", "Accepted"));
        Validates(result.Set);
    }

    [Fact]
    public void HTTPRouteHostnameIntersection_KeepsTheMoreSpecificNameOfEachMatchingPair()
    {
        var result = new GatewayFixture()
            .Gateway(Objects.Gateway("gw", "lb", [new Objects.Listener("wild", 80, Hostname: "*.wildcard.io"), new Objects.Listener("exact", 8080, Hostname: "very.specific.com")], ns: Infra))
            .Service(Infra, "web", Http8080)
            .Route(HttpRoute("wild", [new ParentRef("gw", SectionName: "wild")], [new RouteRule(BackendRefs: [new BackendRef("web", 8080)])], ["non.matching.com", "foo.wildcard.io", "*.bar.wildcard.io", "*.io"], ns: Infra))
            .Route(HttpRoute("exact", [new ParentRef("gw", SectionName: "exact")], [new RouteRule(BackendRefs: [new BackendRef("web", 8080)])], ["*.specific.com"], ns: Infra))
            .Route(HttpRoute("none", [new ParentRef("gw")], [new RouteRule(BackendRefs: [new BackendRef("web", 8080)])], ["nowhere.example"], ns: Infra))
            .Translate();

        var wild = Assert.Single(result.Set.Routes, r => r.Name!.Contains("/wild:", StringComparison.Ordinal));
        Assert.Equal(["foo.wildcard.io", "*.bar.wildcard.io", "*.wildcard.io"], wild.Hosts);
        Assert.Equal([80], wild.Ports);
        var exact = Assert.Single(result.Set.Routes, r => r.Name!.Contains("/exact:", StringComparison.Ordinal));
        Assert.Equal(["very.specific.com"], exact.Hosts);
        Assert.Equal([8080], exact.Ports);
        Assert.Equal(("False", "NoMatchingListenerHostname", 1L), RouteCondition(result, Infra, "none", "Accepted"));

        // Each listener counts the routes whose hostnames intersect its own; the route matching none counts nowhere.
        Assert.Equal(1, (int)ListenerStatus(result, Infra, "gw", "wild")["attachedRoutes"]!);
        Assert.Equal(1, (int)ListenerStatus(result, Infra, "gw", "exact")["attachedRoutes"]!);
        Validates(result.Set);
    }

    [Fact]
    public void HTTPRouteListenerHostnameMatching_ARouteWithoutHostnamesTakesEachListenersHostname()
    {
        var result = new GatewayFixture()
            .Gateway(Objects.Gateway("gw", "lb", [new Objects.Listener("a", 80, Hostname: "bar.com"), new Objects.Listener("b", 80, Hostname: "foo.bar.com"), new Objects.Listener("c", 80, Hostname: "*.bar.com")], ns: Infra))
            .Service(Infra, "web", Http8080)
            .Route(HttpRoute("ab", [new ParentRef("gw", SectionName: "a"), new ParentRef("gw", SectionName: "b")], [new RouteRule(BackendRefs: [new BackendRef("web", 8080)])], ns: Infra))
            .Translate();

        var route = Assert.Single(result.Set.Routes);
        Assert.Equal(["bar.com", "foo.bar.com"], route.Hosts);
        Assert.Equal(1, (int)ListenerStatus(result, Infra, "gw", "a")["attachedRoutes"]!);
        Assert.Equal(0, (int)ListenerStatus(result, Infra, "gw", "c")["attachedRoutes"]!);
        Assert.Equal(("True", "Accepted", 1L), RouteCondition(result, Infra, "ab", "Accepted", parent: 1));
    }

    [Fact]
    public void HTTPRouteRequestHeaderModifier_AndResponseHeaderModifier_AndURLRewrite_BecomeRouteFilters()
    {
        var filters = new[]
        {
            RequestHeaderModifier(set: new Dictionary<string, string> { ["X-Set"] = "1" }, add: new Dictionary<string, string> { ["X-Add"] = "2" }, remove: ["X-Remove"]),
            ResponseHeaderModifier(set: new Dictionary<string, string> { ["X-Resp"] = "3" }),
            UrlRewrite(hostname: "internal.example", replacePrefixMatch: "/v2"),
        };
        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "web", Http8080)
            .Route(HttpRoute("mod", [new ParentRef("gw")], [new RouteRule([new RouteMatch("/v1")], [new BackendRef("web", 8080)], filters)], ns: Infra))
            .Translate();

        var route = Assert.Single(result.Set.Routes);
        Assert.Equal(("X-Set", "1"), (route.RequestHeaders!.Set[0].Name, route.RequestHeaders.Set[0].Value));
        Assert.Equal(("X-Add", "2"), (route.RequestHeaders.Add[0].Name, route.RequestHeaders.Add[0].Value));
        Assert.Equal(["X-Remove"], route.RequestHeaders.Remove);
        Assert.Equal("X-Resp", route.ResponseHeaders!.Set[0].Name);
        Assert.Equal(("internal.example", "/v2"), (route.Rewrite!.Hostname, route.Rewrite.ReplacePrefixMatch));
        Validates(result.Set);
    }

    [Fact]
    public void HTTPRouteRedirect_SchemeHostPortPathAndStatus_BecomeARedirect()
    {
        var result = new GatewayFixture().SameNamespaceGateway()
            .Route(HttpRoute("redirect", [new ParentRef("gw")],
            [
                new RouteRule([new RouteMatch("/scheme")], Filters: [RequestRedirect(scheme: "https", statusCode: 301)]),
                new RouteRule([new RouteMatch("/host")], Filters: [RequestRedirect(hostname: "example.org", port: 8443, replaceFullPath: "/new")]),
            ], ns: Infra))
            .Translate();

        var scheme = result.Set.Routes[0].Redirect!;
        Assert.Equal(("https", 301), (scheme.Scheme, scheme.StatusCode));
        var host = result.Set.Routes[1].Redirect!;
        Assert.Equal(("example.org", 8443, "/new", 302), (host.Hostname, host.Port, host.ReplaceFullPath, host.StatusCode));
        Assert.Equal(("True", "Accepted", 1L), RouteCondition(result, Infra, "redirect", "Accepted"));
        Validates(result.Set);
    }

    [Fact]
    public void HTTPRouteWeight_SplitsByWeight_DropsZeroWeights_AndAllZeroAnswers500()
    {
        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "v1", Http8080).Service(Infra, "v2", Http8080).Service(Infra, "v3", Http8080)
            .Route(HttpRoute("weights", [new ParentRef("gw")],
            [
                new RouteRule([new RouteMatch("/split")], [new BackendRef("v1", 8080, 70), new BackendRef("v2", 8080, 30), new BackendRef("v3", 8080, 0)]),
                new RouteRule([new RouteMatch("/zero")], [new BackendRef("v1", 8080, 0)]),
            ], ns: Infra))
            .Translate();

        Assert.Equal([("gateway:infra/v1:-", 70), ("gateway:infra/v2:-", 30)], result.Set.Routes[0].Backends.Select(b => (b.Cluster, b.Weight)));
        Assert.Equal(500, result.Set.Routes[1].DirectResponse?.StatusCode);
        Validates(result.Set);
    }

    [Fact]
    public void HTTPRouteCrossNamespace_AGatewayAllowingAllNamespaces_AcceptsARouteFromAnother()
    {
        var result = new GatewayFixture().SameNamespaceGateway("All").Service("web", "web-backend", Http8080)
            .Route(HttpRoute("cross-namespace", [new ParentRef("gw", Infra)], [new RouteRule(BackendRefs: [new BackendRef("web-backend", 8080)])], ns: "web"))
            .Translate();

        Assert.Equal("gateway:web/web-backend:-", Assert.Single(result.Set.Routes).Cluster);
        Assert.Equal(("True", "Accepted", 1L), RouteCondition(result, "web", "cross-namespace", "Accepted"));
    }

    [Fact]
    public void HTTPRouteReferenceGrant_AllowsABackendInAnotherNamespace_OnlyForTheNamedService()
    {
        var grant = ReferenceGrant("allow", "web", [(GatewayGroup, "HTTPRoute", Infra)], [("", "Service", "web-backend")]);
        var result = new GatewayFixture().SameNamespaceGateway().Service("web", "web-backend", Http8080).Service("web", "other", Http8080).Grant(grant)
            .Route(HttpRoute("granted", [new ParentRef("gw")], [new RouteRule([new RouteMatch("/ok")], [new BackendRef("web-backend", 8080, Namespace: "web")])], ns: Infra))
            .Route(HttpRoute("not-granted", [new ParentRef("gw")], [new RouteRule([new RouteMatch("/no")], [new BackendRef("other", 8080, Namespace: "web")])], ns: Infra))
            .Translate();

        Assert.Equal("gateway:web/web-backend:-", result.Set.Routes.Single(r => r.Path == "/ok").Cluster);
        Assert.Equal(("True", "ResolvedRefs", 1L), RouteCondition(result, Infra, "granted", "ResolvedRefs"));
        Assert.Equal(("False", "RefNotPermitted", 1L), RouteCondition(result, Infra, "not-granted", "ResolvedRefs"));
    }

    [Fact]
    public void HTTPRouteInvalidCrossNamespaceBackendRef_IsRefNotPermitted_AndAnswers500()
    {
        var result = new GatewayFixture().SameNamespaceGateway().Service("web", "web-backend", Http8080)
            .Route(HttpRoute("invalid-cross-namespace-backend-ref", [new ParentRef("gw")], [new RouteRule(BackendRefs: [new BackendRef("web-backend", 8080, Namespace: "web")])], ns: Infra))
            .Translate();

        Assert.Equal(500, Assert.Single(result.Set.Routes).DirectResponse?.StatusCode);
        Assert.Equal(("True", "Accepted", 1L), RouteCondition(result, Infra, "invalid-cross-namespace-backend-ref", "Accepted"));
        Assert.Equal(("False", "RefNotPermitted", 1L), RouteCondition(result, Infra, "invalid-cross-namespace-backend-ref", "ResolvedRefs"));
        Validates(result.Set);
    }

    [Fact]
    public void HTTPRouteInvalidBackendRefUnknownKind_IsInvalidKind_AndAnswers500()
    {
        var route = HttpRoute("invalid-backend-ref-unknown-kind", [new ParentRef("gw")], [new RouteRule(BackendRefs: [new BackendRef("web", 8080)])], ns: Infra);
        route["spec"]!["rules"]![0]!["backendRefs"]![0]!["group"] = "unknown.example.com";
        route["spec"]!["rules"]![0]!["backendRefs"]![0]!["kind"] = "NonExistent";

        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "web", Http8080).Route(route).Translate();

        Assert.Equal(500, Assert.Single(result.Set.Routes).DirectResponse?.StatusCode);
        Assert.Equal(("False", "InvalidKind", 1L), RouteCondition(result, Infra, "invalid-backend-ref-unknown-kind", "ResolvedRefs"));
    }

    [Fact]
    public void HTTPRouteInvalidNonExistentBackendRef_IsBackendNotFound_AndAPartlyInvalidSplitKeepsTheValidBackend()
    {
        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "web", Http8080)
            .Route(HttpRoute("invalid-nonexistent-backend-ref", [new ParentRef("gw")],
            [
                new RouteRule([new RouteMatch("/all")], [new BackendRef("nonexistent", 8080)]),
                new RouteRule([new RouteMatch("/some")], [new BackendRef("web", 8080), new BackendRef("nonexistent", 8080)]),
                new RouteRule([new RouteMatch("/port")], [new BackendRef("web", 9999)]),
            ], ns: Infra))
            .Translate();

        Assert.Equal(500, result.Set.Routes.Single(r => r.Path == "/all").DirectResponse?.StatusCode);
        Assert.Equal("gateway:infra/web:-", result.Set.Routes.Single(r => r.Path == "/some").Cluster);
        Assert.Equal(500, result.Set.Routes.Single(r => r.Path == "/port").DirectResponse?.StatusCode);
        Assert.Equal(("False", "BackendNotFound", 1L), RouteCondition(result, Infra, "invalid-nonexistent-backend-ref", "ResolvedRefs"));
        Assert.Contains(result.Problems, p => p.Contains("their share of traffic goes to the others", StringComparison.Ordinal));
        Validates(result.Set);
    }

    [Fact]
    public void HTTPRouteDisallowedKind_ATlsRouteOnlyListener_IsNotAllowedByListeners()
    {
        var result = new GatewayFixture()
            .Gateway(Objects.Gateway("tlsroutes-only", "lb", [new Objects.Listener("tls", 443, "TLS", AllowedRoutes: new Objects.AllowedRoutes(Kinds: ["TLSRoute"]))], ns: Infra))
            .Service(Infra, "web", Http8080)
            .Route(HttpRoute("disallowed-kind", [new ParentRef("tlsroutes-only")], [new RouteRule(BackendRefs: [new BackendRef("web", 8080)])], ns: Infra))
            .Translate();

        Assert.Empty(result.Set.Routes);
        Assert.Equal(("False", "NotAllowedByListeners", 1L), RouteCondition(result, Infra, "disallowed-kind", "Accepted"));
        Assert.Equal(("True", "ResolvedRefs", 1L), RouteCondition(result, Infra, "disallowed-kind", "ResolvedRefs"));
        var listener = ListenerStatus(result, Infra, "tlsroutes-only", "tls");
        Assert.Equal(0, (int)listener["attachedRoutes"]!);
        Assert.Equal(("False", "UnsupportedProtocol", 1L), Condition(listener["conditions"]!.AsArray(), "Accepted"));
        Assert.Equal(("False", "InvalidRouteKinds", 1L), Condition(listener["conditions"]!.AsArray(), "ResolvedRefs"));
    }

    [Fact]
    public void HTTPRouteInvalidCrossNamespaceParentRef_ASameNamespaceListener_IsNotAllowedByListeners()
    {
        var result = new GatewayFixture().SameNamespaceGateway().Service("web", "web-backend", Http8080)
            .Route(HttpRoute("invalid-cross-namespace-parent-ref", [new ParentRef("gw", Infra)], [new RouteRule(BackendRefs: [new BackendRef("web-backend", 8080)])], ns: "web"))
            .Translate();

        Assert.Empty(result.Set.Routes);
        Assert.Equal(("False", "NotAllowedByListeners", 1L), RouteCondition(result, "web", "invalid-cross-namespace-parent-ref", "Accepted"));
        Assert.Equal(("True", "ResolvedRefs", 1L), RouteCondition(result, "web", "invalid-cross-namespace-parent-ref", "ResolvedRefs"));
        Assert.Equal(0, (int)ListenerStatus(result, Infra, "gw", "http")["attachedRoutes"]!);
    }

    [Fact]
    public void HTTPRouteInvalidParentRefNotMatchingSectionNameOrPort_IsNoMatchingParent()
    {
        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "web", Http8080)
            .Route(HttpRoute("section", [new ParentRef("gw", SectionName: "nope")], [new RouteRule(BackendRefs: [new BackendRef("web", 8080)])], ns: Infra))
            .Route(HttpRoute("port", [new ParentRef("gw", Port: 81)], [new RouteRule(BackendRefs: [new BackendRef("web", 8080)])], ns: Infra))
            .Translate();

        Assert.Empty(result.Set.Routes);
        Assert.Equal(("False", "NoMatchingParent", 1L), RouteCondition(result, Infra, "section", "Accepted"));
        Assert.Equal(("False", "NoMatchingParent", 1L), RouteCondition(result, Infra, "port", "Accepted"));
    }

    [Fact]
    public void AParentGatewayThatIsNotOurs_GetsNoStatusEntryFromUs()
    {
        var result = new GatewayFixture().Gateway(Objects.Gateway("theirs", "other", [new Objects.Listener("http", 80)], ns: Infra)).Service(Infra, "web", Http8080)
            .Route(HttpRoute("elsewhere", [new ParentRef("theirs")], [new RouteRule(BackendRefs: [new BackendRef("web", 8080)])], ns: Infra))
            .Translate();

        Assert.Empty(result.Set.Routes);
        Assert.DoesNotContain(result.Statuses, s => s.Kind == ApiKind.HttpRoute || s.Kind == ApiKind.Gateway);
        Assert.DoesNotContain(result.Statuses, s => s.Name == "other");
    }

    [Fact]
    public void AnUnsupportedFilter_AnswersThatRule500_AndMarksTheRoutePartiallyInvalid()
    {
        var mirror = new JsonObject { ["type"] = "RequestMirror", ["requestMirror"] = new JsonObject { ["backendRef"] = new JsonObject { ["name"] = "web", ["port"] = 8080 } } };
        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "web", Http8080)
            .Route(HttpRoute("mirror", [new ParentRef("gw")],
            [
                new RouteRule([new RouteMatch("/ok")], [new BackendRef("web", 8080)]),
                new RouteRule([new RouteMatch("/mirror")], [new BackendRef("web", 8080)], [mirror]),
            ], ns: Infra))
            .Route(HttpRoute("all-bad", [new ParentRef("gw")], [new RouteRule([new RouteMatch("/ext")], [new BackendRef("web", 8080)], [new JsonObject { ["type"] = "ExtensionRef", ["extensionRef"] = new JsonObject { ["group"] = "x.io", ["kind"] = "F", ["name"] = "f" } }])], ns: Infra), createdDay: 2)
            .Translate();

        Assert.Equal(500, result.Set.Routes.Single(r => r.Path == "/mirror").DirectResponse?.StatusCode);
        Assert.Equal(500, result.Set.Routes.Single(r => r.Path == "/ext").DirectResponse?.StatusCode);
        Assert.Equal("gateway:infra/web:-", result.Set.Routes.Single(r => r.Path == "/ok").Cluster);
        Assert.Equal(("True", "Accepted", 1L), RouteCondition(result, Infra, "mirror", "Accepted"));
        Assert.Equal(("True", "UnsupportedValue", 1L), RouteCondition(result, Infra, "mirror", "PartiallyInvalid"));
        Assert.Equal(("False", "UnsupportedValue", 1L), RouteCondition(result, Infra, "all-bad", "Accepted"));

        // attachedRoutes counts accepted routes only: "mirror" (partly invalid) counts, "all-bad" does not.
        Assert.Equal(1, (int)ListenerStatus(result, Infra, "gw", "http")["attachedRoutes"]!);
        Validates(result.Set);
    }

    [Fact]
    public void Timeouts_RequestAndBackendRequest_MapToRequestAndResponseHeader()
    {
        var route = HttpRoute("timeouts", [new ParentRef("gw")], [new RouteRule(BackendRefs: [new BackendRef("web", 8080)])], ns: Infra);
        route["spec"]!["rules"]![0]!["timeouts"] = new JsonObject { ["request"] = "1m30s", ["backendRequest"] = "500ms" };

        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "web", Http8080).Route(route).Translate();

        var timeouts = Assert.Single(result.Set.Routes).Timeouts!;
        Assert.Equal((TimeSpan.FromSeconds(90), TimeSpan.FromMilliseconds(500)), (timeouts.Request!.Value, timeouts.ResponseHeader!.Value));
    }
}
