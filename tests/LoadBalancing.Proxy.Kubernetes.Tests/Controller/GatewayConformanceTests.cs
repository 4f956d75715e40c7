using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Kubernetes.Controller;
using LoadBalancing.Proxy.Kubernetes.Tests.Ingress;
using LoadBalancing.Proxy.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;
using static LoadBalancing.Kubernetes.Tests.Support.Objects;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Controller;

/// <summary>
/// The Gateway API conformance suite's HTTPRoute cases end to end, one test per case and named after it: the case's
/// objects in a test API server, a proxy acting as the Gateway controller, the suite's backends (infra-backend-v1/v2/v3
/// and web-backend) as real servers on 127.0.0.50-53, requests over real sockets, and the status the case expects.
/// One API server and one proxy serve the class; each test has its own namespaces and its own Gateway listener port
/// (mapped to a local port of the proxy), so the cases cannot see each other's routes.
/// </summary>
public sealed class GatewayConformanceTests(GatewayConformanceTests.Fixture fixture) : IClassFixture<GatewayConformanceTests.Fixture>
{
    private const string Controller = "loadbalancing.dev/gateway-controller";
    private const string V1 = "infra-backend-v1";
    private const string V2 = "infra-backend-v2";
    private const string V3 = "infra-backend-v3";
    private const string Web = "web-backend";

    [Fact]
    public async Task HTTPRouteSimpleSameNamespace()
    {
        const int port = 8001;
        var ns = fixture.Infra("simple");
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("gateway-conformance-infra-test", [new ParentRef("same-namespace")], [new RouteRule(BackendRefs: [Ref(V1)])], ns: ns));

        await fixture.UntilServedAsync(port, "/", V1);
        Assert.Equal((200, V1), (await fixture.SendAsync(port, "/")).Outcome);

        // The route is scoped to the local port its Gateway listener maps to: another of the proxy's ports has no route.
        Assert.Equal(404, (await fixture.SendAsync(Fixture.SparePort, "/")).Status);

        var parent = await fixture.RouteConditionAsync(ns, "gateway-conformance-infra-test", "Accepted", "True", "Accepted");
        Assert.Equal(Controller, parent["controllerName"]!.GetValue<string>());
        AssertCondition(parent, "ResolvedRefs", "True", "ResolvedRefs");
        var listener = await fixture.ListenerAsync(ns, "same-namespace", "http", attachedRoutes: 1);
        AssertCondition(listener, "Accepted", "True", "Accepted");
        var gateway = await fixture.WaitAsync(ApiResource.Gateways, ns, "same-namespace", o => Condition(o?["status"], "Programmed") is not null);
        AssertCondition(gateway["status"]!, "Accepted", "True", "Accepted");
        AssertCondition(gateway["status"]!, "Programmed", "True", "Programmed");
    }

    [Fact]
    public async Task HTTPRouteMatching()
    {
        const int port = 8002;
        var ns = fixture.Infra("matching");
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("matching", [new ParentRef("same-namespace")],
        [
            new RouteRule([new RouteMatch("/"), new RouteMatch(Headers: Map("version", "one"))], [Ref(V1)]),
            new RouteRule([new RouteMatch("/v2"), new RouteMatch(Headers: Map("version", "two"))], [Ref(V2)]),
        ], ns: ns));

        await fixture.UntilServedAsync(port, "/v2", V2);
        await fixture.ExpectAsync(port, "/", V1);
        await fixture.ExpectAsync(port, "/example", V1);
        await fixture.ExpectAsync(port, "/", V1, headers: Map("Version", "one"));
        await fixture.ExpectAsync(port, "/v2", V2);
        await fixture.ExpectAsync(port, "/v2/example", V2);
        await fixture.ExpectAsync(port, "/", V2, headers: Map("Version", "two"));
        await fixture.ExpectAsync(port, "/v2/", V2);
        await fixture.ExpectAsync(port, "/v2example", V1);
        await fixture.ExpectAsync(port, "/foo/v2/example", V1);
        await fixture.RouteConditionAsync(ns, "matching", "Accepted", "True", "Accepted");
    }

    [Fact]
    public async Task HTTPRouteMatchingAcrossRoutes()
    {
        const int port = 8003;
        var ns = fixture.Infra("across");
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("matching-part1", [new ParentRef("same-namespace")],
            [new RouteRule([new RouteMatch("/"), new RouteMatch(Headers: Map("version", "one"))], [Ref(V1)])], ["example.com", "example.net"], ns));
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("matching-part2", [new ParentRef("same-namespace")],
            [new RouteRule([new RouteMatch("/v2"), new RouteMatch(Headers: Map("version", "two"))], [Ref(V2)])], ["example.com"], ns));

        await fixture.UntilServedAsync(port, "/v2", V2, "example.com");
        await fixture.ExpectAsync(port, "/", V1, "example.com");
        await fixture.ExpectAsync(port, "/example", V1, "example.com");
        await fixture.ExpectAsync(port, "/example", V1, "example.net");
        await fixture.ExpectAsync(port, "/example", V1, "example.com", Map("Version", "one"));
        await fixture.ExpectAsync(port, "/v2", V2, "example.com");
        await fixture.ExpectAsync(port, "/v2", V1, "example.net");
        await fixture.ExpectAsync(port, "/v2/example", V2, "example.com");
        await fixture.ExpectAsync(port, "/", V2, "example.com", Map("Version", "two"));
        await fixture.RouteConditionAsync(ns, "matching-part1", "Accepted", "True", "Accepted");
        await fixture.RouteConditionAsync(ns, "matching-part2", "Accepted", "True", "Accepted");
    }

    [Fact]
    public async Task HTTPRouteHeaderMatching()
    {
        const int port = 8004;
        var ns = fixture.Infra("headers");
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("header-matching", [new ParentRef("same-namespace")],
        [
            new RouteRule([new RouteMatch(Headers: Map("version", "one"))], [Ref(V1)]),
            new RouteRule([new RouteMatch(Headers: Map("version", "two"))], [Ref(V2)]),
            new RouteRule([new RouteMatch(Headers: Map("version", "two", "color", "orange"))], [Ref(V1)]),
            new RouteRule([new RouteMatch(Headers: Map("color", "blue")), new RouteMatch(Headers: Map("color", "green"))], [Ref(V1)]),
            new RouteRule([new RouteMatch(Headers: Map("color", "red")), new RouteMatch(Headers: Map("color", "yellow"))], [Ref(V2)]),
        ], ns: ns));

        await fixture.UntilServedAsync(port, "/", V1, headers: Map("Version", "one"));
        await fixture.ExpectAsync(port, "/", V2, headers: Map("Version", "two"));
        await fixture.ExpectAsync(port, "/", V1, headers: Map("Version", "two", "Color", "orange"));
        await fixture.ExpectAsync(port, "/", V2, headers: Map("Version", "two", "Color", "blue"));
        await fixture.ExpectStatusAsync(port, "/", 404, headers: Map("Color", "orange"));
        await fixture.ExpectStatusAsync(port, "/", 404, headers: Map("Some-Other-Header", "one"));
        await fixture.ExpectAsync(port, "/", V1, headers: Map("Color", "blue"));
        await fixture.ExpectAsync(port, "/", V1, headers: Map("Color", "green"));
        await fixture.ExpectAsync(port, "/", V2, headers: Map("Color", "red"));
        await fixture.ExpectAsync(port, "/", V2, headers: Map("Color", "yellow"));
        await fixture.ExpectStatusAsync(port, "/", 404, headers: Map("Color", "purple"));
        await fixture.RouteConditionAsync(ns, "header-matching", "Accepted", "True", "Accepted");
    }

    [Fact]
    public async Task HTTPRouteQueryParamMatching()
    {
        const int port = 8005;
        var ns = fixture.Infra("query");
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("query-param-matching", [new ParentRef("same-namespace")],
        [
            new RouteRule([new RouteMatch(QueryParams: Map("animal", "whale"))], [Ref(V1)]),
            new RouteRule([new RouteMatch(QueryParams: Map("animal", "dolphin"))], [Ref(V2)]),
            new RouteRule([new RouteMatch(QueryParams: Map("animal", "dolphin", "color", "blue")), new RouteMatch(QueryParams: Map("ANIMAL", "Whale"))], [Ref(V3)]),

            // Combinations with the core match types.
            new RouteRule([new RouteMatch("/path1", QueryParams: Map("animal", "whale"))], [Ref(V1)]),
            new RouteRule([new RouteMatch(Headers: Map("version", "one"), QueryParams: Map("animal", "whale"))], [Ref(V2)]),
            new RouteRule([new RouteMatch("/path2", Headers: Map("version", "two"), QueryParams: Map("animal", "whale"))], [Ref(V3)]),

            // (path AND query) OR (path AND header AND query).
            new RouteRule(
                [new RouteMatch("/path3", QueryParams: Map("animal", "shark")), new RouteMatch("/path4", Headers: Map("version", "three"), QueryParams: Map("animal", "kraken"))],
                [Ref(V1)]),

            // Precedence.
            new RouteRule([new RouteMatch("/path5")], [Ref(V1)]),
            new RouteRule([new RouteMatch(QueryParams: Map("animal", "hydra"))], [Ref(V2)]),
            new RouteRule([new RouteMatch(Headers: Map("version", "four"))], [Ref(V3)]),
        ], ns: ns));

        await fixture.UntilServedAsync(port, "/?animal=whale", V1);
        await fixture.ExpectAsync(port, "/?animal=dolphin", V2);
        await fixture.ExpectAsync(port, "/?animal=dolphin&color=blue", V3);
        await fixture.ExpectAsync(port, "/?ANIMAL=Whale", V3);
        await fixture.ExpectAsync(port, "/?animal=whale&otherparam=irrelevant", V1);
        await fixture.ExpectAsync(port, "/?animal=dolphin&color=yellow", V2);
        await fixture.ExpectStatusAsync(port, "/?color=blue", 404);
        await fixture.ExpectStatusAsync(port, "/?animal=dog", 404);
        await fixture.ExpectStatusAsync(port, "/?animal=whaledolphin", 404);
        await fixture.ExpectStatusAsync(port, "/", 404);

        await fixture.ExpectAsync(port, "/path1?animal=whale", V1);
        await fixture.ExpectAsync(port, "/?animal=whale", V2, headers: Map("version", "one"));
        await fixture.ExpectAsync(port, "/path2?animal=whale", V3, headers: Map("version", "two"));
        await fixture.ExpectAsync(port, "/path3?animal=shark", V1);
        await fixture.ExpectAsync(port, "/path4?animal=kraken", V1, headers: Map("version", "three"));
        await fixture.ExpectStatusAsync(port, "/?animal=shark", 404);
        await fixture.ExpectStatusAsync(port, "/path4?animal=kraken", 404);
        await fixture.ExpectAsync(port, "/path5?animal=hydra", V1);
        await fixture.ExpectAsync(port, "/?animal=hydra", V3, headers: Map("version", "four"));
        await fixture.RouteConditionAsync(ns, "query-param-matching", "Accepted", "True", "Accepted");
    }

    [Fact]
    public async Task HTTPRouteMethodMatching()
    {
        const int port = 8006;
        var ns = fixture.Infra("methods");
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("method-matching", [new ParentRef("same-namespace")],
        [
            new RouteRule([new RouteMatch(Method: "POST")], [Ref(V1)]),
            new RouteRule([new RouteMatch(Method: "GET")], [Ref(V2)]),

            // Combinations with the core match types.
            new RouteRule([new RouteMatch("/path1", Method: "GET")], [Ref(V1)]),
            new RouteRule([new RouteMatch(Headers: Map("version", "one"), Method: "PUT")], [Ref(V2)]),
            new RouteRule([new RouteMatch("/path2", Headers: Map("version", "two"), Method: "POST")], [Ref(V3)]),

            // (path AND method) OR (path AND header AND method).
            new RouteRule([new RouteMatch("/path3", Method: "PATCH"), new RouteMatch("/path4", Headers: Map("version", "three"), Method: "DELETE")], [Ref(V1)]),

            // Precedence.
            new RouteRule([new RouteMatch("/path5")], [Ref(V1)]),
            new RouteRule([new RouteMatch(Method: "PATCH")], [Ref(V2)]),
            new RouteRule([new RouteMatch(Headers: Map("version", "four"))], [Ref(V3)]),
        ], ns: ns));

        await fixture.UntilServedAsync(port, "/", V1, method: "POST");
        await fixture.ExpectAsync(port, "/", V2, method: "GET");
        await fixture.ExpectStatusAsync(port, "/", 404, method: "HEAD");

        await fixture.ExpectAsync(port, "/path1", V1, method: "GET");
        await fixture.ExpectAsync(port, "/", V2, headers: Map("version", "one"), method: "PUT");
        await fixture.ExpectAsync(port, "/path2", V3, headers: Map("version", "two"), method: "POST");
        await fixture.ExpectAsync(port, "/path3", V1, method: "PATCH");
        await fixture.ExpectAsync(port, "/path4", V1, headers: Map("version", "three"), method: "DELETE");
        await fixture.ExpectStatusAsync(port, "/", 404, method: "PUT");
        await fixture.ExpectStatusAsync(port, "/path4", 404, method: "DELETE");
        await fixture.ExpectAsync(port, "/path5", V1, method: "PATCH");
        await fixture.ExpectAsync(port, "/", V2, headers: Map("version", "four"), method: "PATCH");
        await fixture.RouteConditionAsync(ns, "method-matching", "Accepted", "True", "Accepted");
    }

    [Fact]
    public async Task HTTPRouteHostnameIntersection()
    {
        const int port = 8007;
        var ns = fixture.Infra("intersection");
        const string gw = "httproute-hostname-intersection";
        fixture.Server.Apply(ApiResource.Gateways, Objects.Gateway(gw, Fixture.ClassName,
        [
            new Listener("listener-1", port, Hostname: "very.specific.com"),
            new Listener("listener-2", port, Hostname: "*.wildcard.io"),
            new Listener("listener-3", port, Hostname: "*.anotherwildcard.io"),
        ], ns));
        void Route(string name, string[] hostnames, string path, string backend) =>
            fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute(name, [new ParentRef(gw, ns)], [new RouteRule([new RouteMatch(path)], [Ref(backend)])], hostnames, ns));
        Route("specific-host-matches-listener-specific-host", ["non.matching.com", "*.nonmatchingwildcard.io", "very.specific.com"], "/s1", V1);
        Route("specific-host-matches-listener-wildcard-host", ["non.matching.com", "wildcard.io", "foo.wildcard.io", "bar.wildcard.io", "foo.bar.wildcard.io"], "/s2", V2);
        Route("wildcard-host-matches-listener-specific-host", ["non.matching.com", "*.specific.com"], "/s3", V3);
        Route("wildcard-host-matches-listener-wildcard-host", ["*.anotherwildcard.io"], "/s4", V1);
        Route("no-intersecting-hosts", ["specific.but.wrong.com", "wildcard.io"], "/s5", V2);

        await fixture.UntilServedAsync(port, "/s4", V1, "foo.anotherwildcard.io");
        await fixture.ExpectAsync(port, "/s1", V1, "very.specific.com");
        await fixture.ExpectAsync(port, "/s1", V1, "very.specific.com:1234");
        await fixture.ExpectStatusAsync(port, "/s1", 404, "non.matching.com");
        await fixture.ExpectStatusAsync(port, "/s1", 404, "foo.nonmatchingwildcard.io");
        await fixture.ExpectStatusAsync(port, "/s1", 404, "foo.wildcard.io");
        await fixture.ExpectStatusAsync(port, "/non-matching-prefix", 404, "very.specific.com");

        await fixture.ExpectAsync(port, "/s2", V2, "foo.wildcard.io");
        await fixture.ExpectAsync(port, "/s2", V2, "bar.wildcard.io");
        await fixture.ExpectAsync(port, "/s2", V2, "foo.bar.wildcard.io");
        await fixture.ExpectStatusAsync(port, "/s2", 404, "non.matching.com");
        await fixture.ExpectStatusAsync(port, "/s2", 404, "wildcard.io");
        await fixture.ExpectStatusAsync(port, "/s2", 404, "very.specific.com");

        await fixture.ExpectAsync(port, "/s3", V3, "very.specific.com");
        await fixture.ExpectStatusAsync(port, "/s3", 404, "non.matching.com");
        await fixture.ExpectStatusAsync(port, "/s3", 404, "foo.specific.com");
        await fixture.ExpectStatusAsync(port, "/s3", 404, "foo.wildcard.io");

        await fixture.ExpectAsync(port, "/s4", V1, "bar.anotherwildcard.io");
        await fixture.ExpectAsync(port, "/s4", V1, "foo.bar.anotherwildcard.io");
        await fixture.ExpectStatusAsync(port, "/s4", 404, "anotherwildcard.io");
        await fixture.ExpectStatusAsync(port, "/s4", 404, "foo.wildcard.io");
        await fixture.ExpectStatusAsync(port, "/s4", 404, "very.specific.com");

        await fixture.ExpectStatusAsync(port, "/s5", 404, "specific.but.wrong.com");
        await fixture.ExpectStatusAsync(port, "/s5", 404, "wildcard.io");

        foreach (var route in new[] { "specific-host-matches-listener-specific-host", "specific-host-matches-listener-wildcard-host", "wildcard-host-matches-listener-specific-host", "wildcard-host-matches-listener-wildcard-host" })
        {
            await fixture.RouteConditionAsync(ns, route, "Accepted", "True", "Accepted");
        }

        await fixture.RouteConditionAsync(ns, "no-intersecting-hosts", "Accepted", "False", "NoMatchingListenerHostname");

        // attachedRoutes counts only accepted routes.
        await fixture.ListenerAsync(ns, gw, "listener-1", attachedRoutes: 2);
        await fixture.ListenerAsync(ns, gw, "listener-2", attachedRoutes: 1);
        await fixture.ListenerAsync(ns, gw, "listener-3", attachedRoutes: 1);
    }

    [Fact]
    public async Task HTTPRouteListenerHostnameMatching()
    {
        const int port = 8008;
        var ns = fixture.Infra("listener-hosts");
        const string gw = "httproute-listener-hostname-matching";
        fixture.Server.Apply(ApiResource.Gateways, Objects.Gateway(gw, Fixture.ClassName,
        [
            new Listener("listener-1", port, Hostname: "bar.com"),
            new Listener("listener-2", port, Hostname: "foo.bar.com"),
            new Listener("listener-3", port, Hostname: "*.bar.com"),
            new Listener("listener-4", port, Hostname: "*.foo.com"),
        ], ns));
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("backend-v1", [new ParentRef(gw, ns, "listener-1")], [new RouteRule(BackendRefs: [Ref(V1)])], ns: ns));
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("backend-v2", [new ParentRef(gw, ns, "listener-2")], [new RouteRule(BackendRefs: [Ref(V2)])], ns: ns));
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("backend-v3", [new ParentRef(gw, ns, "listener-3"), new ParentRef(gw, ns, "listener-4")], [new RouteRule(BackendRefs: [Ref(V3)])], ns: ns));

        await fixture.UntilServedAsync(port, "/", V3, "multiple.prefixes.foo.com");
        await fixture.ExpectAsync(port, "/", V1, "bar.com");
        await fixture.ExpectAsync(port, "/", V2, "foo.bar.com");
        await fixture.ExpectAsync(port, "/", V3, "baz.bar.com");
        await fixture.ExpectAsync(port, "/", V3, "boo.bar.com");
        await fixture.ExpectAsync(port, "/", V3, "multiple.prefixes.bar.com");
        await fixture.ExpectStatusAsync(port, "/", 404, "foo.com");
        await fixture.ExpectStatusAsync(port, "/", 404, "no.matching.host");

        await fixture.RouteConditionAsync(ns, "backend-v1", "Accepted", "True", "Accepted");
        await fixture.RouteConditionAsync(ns, "backend-v2", "Accepted", "True", "Accepted");
        await fixture.RouteConditionAsync(ns, "backend-v3", "Accepted", "True", "Accepted", section: "listener-3");
        var last = await fixture.RouteConditionAsync(ns, "backend-v3", "Accepted", "True", "Accepted", section: "listener-4");
        AssertCondition(last, "ResolvedRefs", "True", "ResolvedRefs");
    }

    [Fact]
    public async Task HTTPRouteRequestHeaderModifier()
    {
        const int port = 8009;
        var ns = fixture.Infra("request-headers");
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("request-header-modifier", [new ParentRef("same-namespace")],
        [
            new RouteRule([new RouteMatch("/set")], [Ref(V1)], [RequestHeaderModifier(set: Map("X-Header-Set", "set-overwrites-values"))]),
            new RouteRule([new RouteMatch("/add")], [Ref(V1)], [RequestHeaderModifier(add: Map("X-Header-Add", "add-appends-values"))]),
            new RouteRule([new RouteMatch("/remove")], [Ref(V1)], [RequestHeaderModifier(remove: ["X-Header-Remove"])]),
            new RouteRule([new RouteMatch("/multiple")], [Ref(V1)], [RequestHeaderModifier(
                set: Map("X-Header-Set-1", "header-set-1", "X-Header-Set-2", "header-set-2"),
                add: Map("X-Header-Add-1", "header-add-1", "X-Header-Add-2", "header-add-2", "X-Header-Add-3", "header-add-3"),
                remove: ["X-Header-Remove-1", "X-Header-Remove-2"])]),
            new RouteRule([new RouteMatch("/case-insensitivity")], [Ref(V1)], [RequestHeaderModifier(set: Map("X-Header-Set", "header-set"), add: Map("X-Header-Add", "header-add"), remove: ["X-Header-Remove"])]),
        ], ns: ns));

        await fixture.UntilServedAsync(port, "/set", V1);
        var seen = await fixture.ExpectAsync(port, "/set", V1, headers: Map("Some-Other-Header", "val"));
        AssertHeaders(seen, Map("Some-Other-Header", "val", "X-Header-Set", "set-overwrites-values"));
        seen = await fixture.ExpectAsync(port, "/set", V1, headers: Map("Some-Other-Header", "val", "X-Header-Set", "some-other-value"));
        AssertHeaders(seen, Map("Some-Other-Header", "val", "X-Header-Set", "set-overwrites-values"));
        seen = await fixture.ExpectAsync(port, "/add", V1, headers: Map("Some-Other-Header", "val"));
        AssertHeaders(seen, Map("Some-Other-Header", "val", "X-Header-Add", "add-appends-values"));
        seen = await fixture.ExpectAsync(port, "/add", V1, headers: Map("Some-Other-Header", "val", "X-Header-Add", "some-other-value"));
        AssertHeaders(seen, Map("Some-Other-Header", "val", "X-Header-Add", "some-other-value,add-appends-values"));
        seen = await fixture.ExpectAsync(port, "/remove", V1, headers: Map("X-Header-Remove", "val"));
        AssertHeaders(seen, Map(), absent: ["X-Header-Remove"]);
        seen = await fixture.ExpectAsync(port, "/multiple", V1, headers: Map("X-Header-Set-2", "set-val-2", "X-Header-Add-2", "add-val-2", "X-Header-Remove-2", "remove-val-2", "Another-Header", "another-header-val"));
        AssertHeaders(
            seen,
            Map("X-Header-Set-1", "header-set-1", "X-Header-Set-2", "header-set-2", "X-Header-Add-1", "header-add-1", "X-Header-Add-2", "add-val-2,header-add-2", "X-Header-Add-3", "header-add-3", "Another-Header", "another-header-val"),
            absent: ["X-Header-Remove-1", "X-Header-Remove-2"]);
        seen = await fixture.ExpectAsync(port, "/case-insensitivity", V1, headers: Map("x-header-set", "original-val-set", "x-header-add", "original-val-add", "x-header-remove", "original-val-remove", "Another-Header", "another-header-val"));
        AssertHeaders(seen, Map("X-Header-Set", "header-set", "X-Header-Add", "original-val-add,header-add", "Another-Header", "another-header-val"), absent: ["X-Header-Remove"]);

        var parent = await fixture.RouteConditionAsync(ns, "request-header-modifier", "Accepted", "True", "Accepted");
        AssertCondition(parent, "ResolvedRefs", "True", "ResolvedRefs");
    }

    [Fact]
    public async Task HTTPRouteResponseHeaderModifier()
    {
        const int port = 8010;
        var ns = fixture.Infra("response-headers");
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("response-header-modifier", [new ParentRef("same-namespace")],
        [
            new RouteRule([new RouteMatch("/set")], [Ref(V1)], [ResponseHeaderModifier(set: Map("X-Header-Set", "set-overwrites-values"))]),
            new RouteRule([new RouteMatch("/add")], [Ref(V1)], [ResponseHeaderModifier(add: Map("X-Header-Add", "add-appends-values"))]),
            new RouteRule([new RouteMatch("/remove")], [Ref(V1)], [ResponseHeaderModifier(remove: ["X-Header-Remove"])]),
            new RouteRule([new RouteMatch("/multiple")], [Ref(V1)], [ResponseHeaderModifier(
                set: Map("X-Header-Set-1", "header-set-1", "X-Header-Set-2", "header-set-2"),
                add: Map("X-Header-Add-1", "header-add-1", "X-Header-Add-2", "header-add-2", "X-Header-Add-3", "header-add-3"),
                remove: ["X-Header-Remove-1", "X-Header-Remove-2"])]),
            new RouteRule([new RouteMatch("/case-insensitivity")], [Ref(V1)], [ResponseHeaderModifier(set: Map("X-Header-Set", "header-set"), add: Map("X-Header-Add", "header-add"), remove: ["X-Header-Remove"])]),
        ], ns: ns));

        // The backend answers with the headers X-Echo-Set-Header asks for, as the suite's echo server does.
        await fixture.UntilServedAsync(port, "/set", V1);
        AssertHeaders((await fixture.ExpectAsync(port, "/set", V1)).Response, Map("X-Header-Set", "set-overwrites-values"));
        AssertHeaders((await fixture.ExpectAsync(port, "/set", V1, headers: Echo("X-Header-Set:some-other-value"))).Response, Map("X-Header-Set", "set-overwrites-values"));
        AssertHeaders((await fixture.ExpectAsync(port, "/add", V1)).Response, Map("X-Header-Add", "add-appends-values"));
        AssertHeaders((await fixture.ExpectAsync(port, "/add", V1, headers: Echo("X-Header-Add:some-other-value"))).Response, Map("X-Header-Add", "some-other-value,add-appends-values"));
        AssertHeaders((await fixture.ExpectAsync(port, "/remove", V1, headers: Echo("X-Header-Remove:val"))).Response, Map(), absent: ["X-Header-Remove"]);
        var multiple = await fixture.ExpectAsync(port, "/multiple", V1, headers: Echo("X-Header-Set-2:set-val-2,X-Header-Add-2:add-val-2,X-Header-Remove-2:remove-val-2,Another-Header:another-header-val"));
        AssertHeaders(
            multiple.Response,
            Map("X-Header-Set-1", "header-set-1", "X-Header-Set-2", "header-set-2", "X-Header-Add-1", "header-add-1", "X-Header-Add-2", "add-val-2,header-add-2", "X-Header-Add-3", "header-add-3", "Another-Header", "another-header-val"),
            absent: ["X-Header-Remove-1", "X-Header-Remove-2"]);
        var mixed = await fixture.ExpectAsync(port, "/case-insensitivity", V1, headers: Echo("x-header-set:original-val-set,x-header-add:original-val-add,x-header-remove:original-val-remove"));
        AssertHeaders(mixed.Response, Map("X-Header-Set", "header-set", "X-Header-Add", "original-val-add,header-add"), absent: ["X-Header-Remove"]);
        await fixture.RouteConditionAsync(ns, "response-header-modifier", "Accepted", "True", "Accepted");
    }

    [Fact]
    public async Task HTTPRouteRedirectHostAndStatus()
    {
        const int port = 8011;
        var ns = fixture.Infra("redirect-host");
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("redirect-host-and-status", [new ParentRef("same-namespace")],
        [
            new RouteRule([new RouteMatch("/hostname-redirect")], Filters: [RequestRedirect(hostname: "example.org")]),
            new RouteRule([new RouteMatch("/host-and-status")], Filters: [RequestRedirect(hostname: "example.org", statusCode: 301)]),
        ], ns: ns));

        // The client addresses the Gateway as host:port, the listener port: a redirect that names no port keeps it.
        const string host = "redirect.test:8011";
        await fixture.UntilAsync(async () => (await fixture.SendAsync(port, "/hostname-redirect", host)).Status == 302);
        await fixture.ExpectRedirectAsync(port, "/hostname-redirect", 302, "http://example.org:8011/hostname-redirect", host);
        await fixture.ExpectRedirectAsync(port, "/host-and-status", 301, "http://example.org:8011/host-and-status", host);

        // A client on the default port names none, and the Location names none either.
        await fixture.ExpectRedirectAsync(port, "/hostname-redirect?q=1", 302, "http://example.org/hostname-redirect?q=1", "redirect.test");
        var parent = await fixture.RouteConditionAsync(ns, "redirect-host-and-status", "Accepted", "True", "Accepted");
        AssertCondition(parent, "ResolvedRefs", "True", "ResolvedRefs");
    }

    [Fact]
    public async Task HTTPRouteRedirectPath()
    {
        const int port = 8012;
        var ns = fixture.Infra("redirect-path");
        fixture.SameNamespaceGateway(ns, port);
        static JsonObject Prefix(JsonObject filter, string replacement)
        {
            filter["requestRedirect"]!["path"] = new JsonObject { ["type"] = "ReplacePrefixMatch", ["replacePrefixMatch"] = replacement };
            return filter;
        }

        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("redirect-path", [new ParentRef("same-namespace")],
        [
            new RouteRule([new RouteMatch("/original-prefix")], Filters: [Prefix(RequestRedirect(), "/replacement-prefix")]),
            new RouteRule([new RouteMatch("/full")], Filters: [RequestRedirect(replaceFullPath: "/full-path-replacement")]),
            new RouteRule([new RouteMatch("/path-and-host")], Filters: [Prefix(RequestRedirect(hostname: "example.org"), "/replacement-prefix")]),
            new RouteRule([new RouteMatch("/path-and-status")], Filters: [Prefix(RequestRedirect(statusCode: 301), "/replacement-prefix")]),
            new RouteRule([new RouteMatch("/full-path-and-host")], Filters: [RequestRedirect(hostname: "example.org", replaceFullPath: "/replacement-full")]),
            new RouteRule([new RouteMatch("/full-path-and-status")], Filters: [RequestRedirect(statusCode: 301, replaceFullPath: "/replacement-full")]),
        ], ns: ns));

        const string host = "redirect.test";
        await fixture.UntilAsync(async () => (await fixture.SendAsync(port, "/full/path/original", host)).Status == 302);
        await fixture.ExpectRedirectAsync(port, "/original-prefix/lemon", 302, "http://redirect.test/replacement-prefix/lemon", host);
        await fixture.ExpectRedirectAsync(port, "/full/path/original", 302, "http://redirect.test/full-path-replacement", host);
        await fixture.ExpectRedirectAsync(port, "/path-and-host", 302, "http://example.org/replacement-prefix", host);
        await fixture.ExpectRedirectAsync(port, "/path-and-status", 301, "http://redirect.test/replacement-prefix", host);
        await fixture.ExpectRedirectAsync(port, "/full-path-and-host", 302, "http://example.org/replacement-full", host);
        await fixture.ExpectRedirectAsync(port, "/full-path-and-status", 301, "http://redirect.test/replacement-full", host);
        await fixture.RouteConditionAsync(ns, "redirect-path", "Accepted", "True", "Accepted");
    }

    [Fact]
    public async Task HTTPRouteRedirectScheme()
    {
        const int port = 8013;
        var ns = fixture.Infra("redirect-scheme");
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("redirect-scheme", [new ParentRef("same-namespace")],
        [
            new RouteRule([new RouteMatch("/scheme")], Filters: [RequestRedirect(scheme: "https")]),
            new RouteRule([new RouteMatch("/scheme-and-host")], Filters: [RequestRedirect(scheme: "https", hostname: "example.org")]),
            new RouteRule([new RouteMatch("/scheme-and-status")], Filters: [RequestRedirect(scheme: "https", statusCode: 301)]),
            new RouteRule([new RouteMatch("/scheme-and-host-and-status")], Filters: [RequestRedirect(scheme: "https", hostname: "example.org", statusCode: 302)]),
        ], ns: ns));

        // A new scheme without a port means that scheme's well-known port, which a Location leaves out.
        const string host = "redirect.test:8013";
        await fixture.UntilAsync(async () => (await fixture.SendAsync(port, "/scheme", host)).Status == 302);
        await fixture.ExpectRedirectAsync(port, "/scheme", 302, "https://redirect.test/scheme", host);
        await fixture.ExpectRedirectAsync(port, "/scheme-and-host", 302, "https://example.org/scheme-and-host", host);
        await fixture.ExpectRedirectAsync(port, "/scheme-and-status", 301, "https://redirect.test/scheme-and-status", host);
        await fixture.ExpectRedirectAsync(port, "/scheme-and-host-and-status", 302, "https://example.org/scheme-and-host-and-status", host);
        await fixture.RouteConditionAsync(ns, "redirect-scheme", "Accepted", "True", "Accepted");
    }

    [Fact]
    public async Task HTTPRouteRedirectPort()
    {
        const int port = 8014;
        var ns = fixture.Infra("redirect-port");
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("redirect-port", [new ParentRef("same-namespace")],
        [
            new RouteRule([new RouteMatch("/port")], Filters: [RequestRedirect(port: 8083)]),
            new RouteRule([new RouteMatch("/port-and-host")], Filters: [RequestRedirect(hostname: "example.org", port: 8083)]),
            new RouteRule([new RouteMatch("/port-and-status")], Filters: [RequestRedirect(port: 8083, statusCode: 301)]),
            new RouteRule([new RouteMatch("/port-and-host-and-status")], Filters: [RequestRedirect(hostname: "example.org", port: 8083, statusCode: 302)]),
        ], ns: ns));

        const string host = "redirect.test:8014";
        await fixture.UntilAsync(async () => (await fixture.SendAsync(port, "/port", host)).Status == 302);
        await fixture.ExpectRedirectAsync(port, "/port", 302, "http://redirect.test:8083/port", host);
        await fixture.ExpectRedirectAsync(port, "/port-and-host", 302, "http://example.org:8083/port-and-host", host);
        await fixture.ExpectRedirectAsync(port, "/port-and-status", 301, "http://redirect.test:8083/port-and-status", host);
        await fixture.ExpectRedirectAsync(port, "/port-and-host-and-status", 302, "http://example.org:8083/port-and-host-and-status", host);
        await fixture.RouteConditionAsync(ns, "redirect-port", "Accepted", "True", "Accepted");
    }

    [Fact]
    public async Task HTTPRouteRewriteHost()
    {
        const int port = 8015;
        var ns = fixture.Infra("rewrite-host");
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("rewrite-host", [new ParentRef("same-namespace")],
        [
            new RouteRule([new RouteMatch("/one")], [Ref(V1)], [UrlRewrite(hostname: "one.example.org")]),
            new RouteRule(BackendRefs: [Ref(V2)], Filters: [UrlRewrite(hostname: "example.org")]),
            new RouteRule([new RouteMatch("/rewrite-host-and-modify-headers")], [Ref(V2)],
            [
                UrlRewrite(hostname: "test.example.org"),
                RequestHeaderModifier(set: Map("X-Header-Set", "set-overwrites-values"), add: Map("X-Header-Add", "header-val-1", "X-Header-Add-Append", "header-val-2"), remove: ["X-Header-Remove"]),
            ]),
        ], ["rewrite.example"], ns));

        const string host = "rewrite.example";
        await fixture.UntilServedAsync(port, "/one", V1, host);
        var seen = await fixture.ExpectAsync(port, "/one", V1, host);
        Assert.Equal(("/one", "one.example.org"), (seen.Seen!.Target, seen.Seen.Headers["Host"]));
        seen = await fixture.ExpectAsync(port, "/two", V2, host);
        Assert.Equal(("/two", "example.org"), (seen.Seen!.Target, seen.Seen.Headers["Host"]));
        seen = await fixture.ExpectAsync(port, "/rewrite-host-and-modify-headers", V2, host, Map("X-Header-Remove", "remove-val", "X-Header-Add-Append", "append-val-1"));
        Assert.Equal(("/rewrite-host-and-modify-headers", "test.example.org"), (seen.Seen!.Target, seen.Seen.Headers["Host"]));
        AssertHeaders(seen, Map("X-Header-Add", "header-val-1", "X-Header-Add-Append", "append-val-1,header-val-2", "X-Header-Set", "set-overwrites-values"), absent: ["X-Header-Remove"]);
        await fixture.RouteConditionAsync(ns, "rewrite-host", "Accepted", "True", "Accepted");
    }

    [Fact]
    public async Task HTTPRouteRewritePath()
    {
        const int port = 8016;
        var ns = fixture.Infra("rewrite-path");
        fixture.SameNamespaceGateway(ns, port);
        var modify = RequestHeaderModifier(set: Map("X-Header-Set", "set-overwrites-values"), add: Map("X-Header-Add", "header-val-1", "X-Header-Add-Append", "header-val-2"), remove: ["X-Header-Remove"]);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("rewrite-path", [new ParentRef("same-namespace")],
        [
            new RouteRule([new RouteMatch("/prefix/one")], [Ref(V1)], [UrlRewrite(replacePrefixMatch: "/one")]),
            new RouteRule([new RouteMatch("/strip-prefix")], [Ref(V1)], [UrlRewrite(replacePrefixMatch: "/")]),
            new RouteRule([new RouteMatch("/full/one")], [Ref(V1)], [UrlRewrite(fullPath: "/one")]),
            new RouteRule([new RouteMatch("/full/rewrite-path-and-modify-headers")], [Ref(V1)], [UrlRewrite(fullPath: "/test"), (JsonObject)modify.DeepClone()]),
            new RouteRule([new RouteMatch("/prefix/rewrite-path-and-modify-headers")], [Ref(V1)], [UrlRewrite(replacePrefixMatch: "/prefix"), (JsonObject)modify.DeepClone()]),
        ], ns: ns));

        await fixture.UntilServedAsync(port, "/prefix/one/two", V1);
        Assert.Equal("/one/two", (await fixture.ExpectAsync(port, "/prefix/one/two", V1)).Seen!.Target);
        Assert.Equal("/three", (await fixture.ExpectAsync(port, "/strip-prefix/three", V1)).Seen!.Target);
        Assert.Equal("/", (await fixture.ExpectAsync(port, "/strip-prefix", V1)).Seen!.Target);
        Assert.Equal("/one", (await fixture.ExpectAsync(port, "/full/one/two", V1)).Seen!.Target);
        var headers = Map("X-Header-Remove", "remove-val", "X-Header-Add-Append", "append-val-1", "X-Header-Set", "set-val");
        var expected = Map("X-Header-Add", "header-val-1", "X-Header-Add-Append", "append-val-1,header-val-2", "X-Header-Set", "set-overwrites-values");
        var full = await fixture.ExpectAsync(port, "/full/rewrite-path-and-modify-headers/test", V1, headers: headers);
        Assert.Equal("/test", full.Seen!.Target);
        AssertHeaders(full, expected, absent: ["X-Header-Remove"]);
        var prefix = await fixture.ExpectAsync(port, "/prefix/rewrite-path-and-modify-headers/one", V1, headers: headers);
        Assert.Equal("/prefix/one", prefix.Seen!.Target);
        AssertHeaders(prefix, expected, absent: ["X-Header-Remove"]);
        await fixture.RouteConditionAsync(ns, "rewrite-path", "Accepted", "True", "Accepted");
    }

    [Fact]
    public async Task HTTPRouteWeight()
    {
        const int port = 8017;
        var ns = fixture.Infra("weight");
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("weighted-backends", [new ParentRef("same-namespace")],
            [new RouteRule(BackendRefs: [Ref(V1, 70), Ref(V2, 30), Ref(V3, 0)])], ns: ns));
        await fixture.UntilAsync(async () => (await fixture.SendAsync(port, "/")).Status == 200);
        await fixture.RouteConditionAsync(ns, "weighted-backends", "ResolvedRefs", "True", "ResolvedRefs");

        // n requests split 70/30: v1's count is binomial(n, 0.7); 6 standard deviations either side never flakes
        // (a chance of about 2e-9) yet still tells a 70/30 split from an even one (100 of 200 falls outside).
        const int n = 200;
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < n; i++)
        {
            var answer = await fixture.SendAsync(port, "/");
            Assert.Equal(200, answer.Status);
            counts[answer.Body] = counts.GetValueOrDefault(answer.Body) + 1;
        }

        var tolerance = 6 * Math.Sqrt(n * 0.7 * 0.3);
        Assert.InRange((double)counts.GetValueOrDefault(V1), n * 0.7 - tolerance, n * 0.7 + tolerance);
        Assert.Equal(n, counts.GetValueOrDefault(V1) + counts.GetValueOrDefault(V2));
        Assert.False(counts.ContainsKey(V3), "a weight-0 backend must get no traffic");
    }

    [Fact]
    public async Task HTTPRouteCrossNamespace()
    {
        const int port = 8018;
        const string infra = "cross-infra";
        const string web = "cross-web";
        fixture.Server.Apply(ApiResource.Namespaces, Objects.Namespace(infra));
        fixture.Server.Apply(ApiResource.Namespaces, Objects.Namespace(web, Map("gateway-conformance", "cross-backend")));
        fixture.WebBackend(web);
        fixture.Server.Apply(ApiResource.Gateways, Objects.Gateway("backend-namespaces", Fixture.ClassName,
            [new Listener("http", port, AllowedRoutes: new AllowedRoutes("Selector", Map("gateway-conformance", "cross-backend")))], infra));
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("cross-namespace", [new ParentRef("backend-namespaces", infra)], [new RouteRule(BackendRefs: [Ref(Web)])], ns: web));

        await fixture.UntilServedAsync(port, "/", Web);
        var parent = await fixture.RouteConditionAsync(web, "cross-namespace", "Accepted", "True", "Accepted");
        AssertCondition(parent, "ResolvedRefs", "True", "ResolvedRefs");
        await fixture.ListenerAsync(infra, "backend-namespaces", "http", attachedRoutes: 1);
    }

    [Fact]
    public async Task HTTPRouteReferenceGrant()
    {
        const int port = 8019;
        var ns = fixture.Infra("grant-infra");
        const string web = "grant-web";
        fixture.WebBackend(web);
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.ReferenceGrants, ReferenceGrant("reference-grant", web, [(GatewayGroup, "HTTPRoute", ns)], [("", "Service", Web)]));
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("reference-grant", [new ParentRef("same-namespace")], [new RouteRule(BackendRefs: [Ref(Web, ns: web)])], ns: ns));

        await fixture.UntilServedAsync(port, "/", Web);
        var parent = await fixture.RouteConditionAsync(ns, "reference-grant", "ResolvedRefs", "True", "ResolvedRefs");
        AssertCondition(parent, "Accepted", "True", "Accepted");

        // Without the grant the reference is not permitted: 500, and the route says why.
        fixture.Server.Delete(ApiResource.ReferenceGrants, web, "reference-grant");
        await fixture.UntilAsync(async () => (await fixture.SendAsync(port, "/")).Status == 500);
        await fixture.RouteConditionAsync(ns, "reference-grant", "ResolvedRefs", "False", "RefNotPermitted");
    }

    [Fact]
    public async Task HTTPRouteInvalidCrossNamespaceBackendRef()
    {
        const int port = 8020;
        var ns = fixture.Infra("no-grant-infra");
        const string web = "no-grant-web";
        fixture.WebBackend(web);
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("invalid-cross-namespace-backend-ref", [new ParentRef("same-namespace")], [new RouteRule(BackendRefs: [Ref(Web, ns: web)])], ns: ns));

        var parent = await fixture.RouteConditionAsync(ns, "invalid-cross-namespace-backend-ref", "ResolvedRefs", "False", "RefNotPermitted");
        AssertCondition(parent, "Accepted", "True", "Accepted");
        await fixture.UntilAsync(async () => (await fixture.SendAsync(port, "/")).Status == 500);
        await fixture.ExpectStatusAsync(port, "/", 500);
    }

    [Fact]
    public async Task HTTPRouteInvalidBackendRefUnknownKind()
    {
        const int port = 8021;
        var ns = fixture.Infra("unknown-kind");
        fixture.SameNamespaceGateway(ns, port);
        var route = HttpRoute("invalid-backend-ref-unknown-kind", [new ParentRef("same-namespace")], [new RouteRule(BackendRefs: [Ref(V1)])], ns: ns);
        route["spec"]!["rules"]![0]!["backendRefs"]![0]!["group"] = "unknownkind.example.com";
        route["spec"]!["rules"]![0]!["backendRefs"]![0]!["kind"] = "NonExistent";
        fixture.Server.Apply(ApiResource.HttpRoutes, route);

        var parent = await fixture.RouteConditionAsync(ns, "invalid-backend-ref-unknown-kind", "ResolvedRefs", "False", "InvalidKind");
        AssertCondition(parent, "Accepted", "True", "Accepted");
        await fixture.UntilAsync(async () => (await fixture.SendAsync(port, "/v2")).Status == 500);
    }

    [Fact]
    public async Task HTTPRouteInvalidNonExistentBackendRef()
    {
        const int port = 8022;
        var ns = fixture.Infra("nonexistent");
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("invalid-nonexistent-backend-ref", [new ParentRef("same-namespace")], [new RouteRule(BackendRefs: [Ref("nonexistent", ns: ns)])], ns: ns));

        var parent = await fixture.RouteConditionAsync(ns, "invalid-nonexistent-backend-ref", "ResolvedRefs", "False", "BackendNotFound");
        AssertCondition(parent, "Accepted", "True", "Accepted");
        await fixture.UntilAsync(async () => (await fixture.SendAsync(port, "/")).Status == 500);
    }

    [Fact]
    public async Task HTTPRouteServiceWithNoEndpoints()
    {
        const int port = 8023;
        var ns = fixture.Infra("no-endpoints");
        fixture.SameNamespaceGateway(ns, port);

        // The Service exists (the reference resolves) but its EndpointSlice holds no ready endpoint.
        fixture.Server.Apply(ApiResource.Services, Service("no-endpoints", [new ServicePort("http", 80, 8080)], ns));
        fixture.Server.Apply(ns, Slices.Slice("no-endpoints-1", "no-endpoints", [new(["127.0.0.54"], Ready: false)], [("http", 8080)]));
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("service-with-no-endpoints", [new ParentRef("same-namespace")], [new RouteRule(BackendRefs: [Ref("no-endpoints")])], ns: ns));

        var parent = await fixture.RouteConditionAsync(ns, "service-with-no-endpoints", "ResolvedRefs", "True", "ResolvedRefs");
        AssertCondition(parent, "Accepted", "True", "Accepted");
        await fixture.UntilAsync(async () => (await fixture.SendAsync(port, "/")).Status == 503);
    }

    [Fact]
    public async Task HTTPRouteDisallowedKind()
    {
        var ns = fixture.Infra("disallowed");
        var gateway = Objects.Gateway("tlsroutes-only", Fixture.ClassName, [new Listener("tls", 443, "TLS", AllowedRoutes: new AllowedRoutes(Kinds: ["TLSRoute"]))], ns);
        gateway["spec"]!["listeners"]![0]!["tls"] = new JsonObject { ["mode"] = "Passthrough" };
        fixture.Server.Apply(ApiResource.Gateways, gateway);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("disallowed-kind", [new ParentRef("tlsroutes-only", ns)], [new RouteRule(BackendRefs: [Ref(V1)])], ns: ns));

        var parent = await fixture.RouteConditionAsync(ns, "disallowed-kind", "Accepted", "False", "NotAllowedByListeners");
        AssertCondition(parent, "ResolvedRefs", "True", "ResolvedRefs");
        await fixture.ListenerAsync(ns, "tlsroutes-only", "tls", attachedRoutes: 0);
    }

    [Fact]
    public async Task HTTPRouteInvalidCrossNamespaceParentRef()
    {
        const int port = 8024;
        var ns = fixture.Infra("parent-infra");
        const string web = "parent-web";
        fixture.WebBackend(web);
        fixture.SameNamespaceGateway(ns, port);
        fixture.Server.Apply(ApiResource.HttpRoutes, HttpRoute("invalid-cross-namespace-parent-ref", [new ParentRef("same-namespace", ns)], [new RouteRule(BackendRefs: [Ref(Web)])], ns: web));

        var parent = await fixture.RouteConditionAsync(web, "invalid-cross-namespace-parent-ref", "Accepted", "False", "NotAllowedByListeners");
        AssertCondition(parent, "ResolvedRefs", "True", "ResolvedRefs");
        await fixture.ListenerAsync(ns, "same-namespace", "http", attachedRoutes: 0);
        await fixture.ExpectStatusAsync(port, "/", 404);
    }

    [Fact]
    public async Task HTTPRouteTimeoutRequest()
    {
        const int port = 8025;
        var ns = fixture.Infra("timeout");
        fixture.SameNamespaceGateway(ns, port);
        var route = HttpRoute("request-timeout", [new ParentRef("same-namespace")],
        [
            new RouteRule([new RouteMatch("/request-timeout")], [Ref(V1)]),
            new RouteRule([new RouteMatch("/disable-request-timeout")], [Ref(V1)]),
        ], ns: ns);
        route["spec"]!["rules"]![0]!["timeouts"] = new JsonObject { ["request"] = "500ms" };
        route["spec"]!["rules"]![1]!["timeouts"] = new JsonObject { ["request"] = "0s" };
        fixture.Server.Apply(ApiResource.HttpRoutes, route);

        await fixture.UntilServedAsync(port, "/request-timeout", V1);
        await fixture.RouteConditionAsync(ns, "request-timeout", "Accepted", "True", "Accepted");

        // The backend waits delay-ms before answering: past the 500 ms request timeout the proxy answers 504 itself.
        var clock = Stopwatch.StartNew();
        Assert.Equal(504, (await fixture.SendAsync(port, "/request-timeout?delay-ms=1500")).Status);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(450), TimeSpan.FromMilliseconds(1400));
        Assert.Equal((200, V1), (await fixture.SendAsync(port, "/disable-request-timeout?delay-ms=1000")).Outcome);
    }

    private static BackendRef Ref(string service, int weight = 1, string? ns = null) => new(service, 80, weight, ns);

    private static Dictionary<string, string> Map(params string[] pairs)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < pairs.Length; i += 2)
        {
            map[pairs[i]] = pairs[i + 1];
        }

        return map;
    }

    /// <summary>Asks the backend to answer with these headers ("Name:value,Name:value").</summary>
    private static Dictionary<string, string> Echo(string headers) => Map(Fixture.EchoHeader, headers);

    private static void AssertHeaders(Answer answer, IReadOnlyDictionary<string, string> expected, string[]? absent = null) =>
        AssertHeaders(answer.Seen!.Headers, expected, absent);

    private static void AssertHeaders(IReadOnlyDictionary<string, string> actual, IReadOnlyDictionary<string, string> expected, string[]? absent = null)
    {
        foreach (var (name, value) in expected)
        {
            Assert.True(actual.TryGetValue(name, out var seen), $"{name} is missing; headers: {string.Join("; ", actual.Select(h => $"{h.Key}: {h.Value}"))}");
            Assert.Equal($"{name}: {value}", $"{name}: {seen}");
        }

        foreach (var name in absent ?? [])
        {
            Assert.False(actual.ContainsKey(name), $"{name} should be absent but is '{actual.GetValueOrDefault(name)}'");
        }
    }

    private static JsonNode? Condition(JsonNode? holder, string type) =>
        holder?["conditions"]?.AsArray().FirstOrDefault(c => c?["type"]?.GetValue<string>() == type);

    private static void AssertCondition(JsonNode holder, string type, string status, string reason)
    {
        var condition = Condition(holder, type);
        Assert.True(condition is not null, $"no {type} condition in {holder.ToJsonString()}");
        Assert.Equal((type, status, reason), (type, condition["status"]!.GetValue<string>(), condition["reason"]!.GetValue<string>()));
        Assert.NotNull(condition["lastTransitionTime"]);
    }

    /// <summary>One exchange: status, body, response headers, and what the backend that answered saw (null when none did).</summary>
    internal sealed record Answer(int Status, string Body, string? Location, IReadOnlyDictionary<string, string> Response, SeenRequest? Seen)
    {
        public (int Status, string Body) Outcome => (Status, Body);
    }

    /// <summary>
    /// The suite's infrastructure once for the class: the backends, a test API server holding our GatewayClass, and a
    /// proxy serving Gateway listener ports 8001-8030 and <see cref="SparePort"/>, each on a local port of its own.
    /// </summary>
    public sealed class Fixture : IAsyncLifetime
    {
        public const string ClassName = "conformance";
        public const int SparePort = 8099;
        internal const string EchoHeader = "X-Echo-Set-Header";
        private const string TagHeader = "X-Conformance-Request";
        private static readonly int[] GatewayPorts = [.. Enumerable.Range(8001, 30), SparePort];

        private Dictionary<int, int> _localPorts = [];
        private TestBackend[] _backends = [];
        private int _tags;

        internal FakeApiServer Server { get; private set; } = null!;

        internal ControllerHost Host { get; private set; } = null!;

        internal HttpClient Client { get; } = new(new SocketsHttpHandler { AllowAutoRedirect = false, UseProxy = false, UseCookies = false }) { Timeout = TimeSpan.FromSeconds(15) };

        private RoutingController Gateway => Host.Controllers.Gateway!;

        public async ValueTask InitializeAsync()
        {
            _backends =
            [
                await TestBackend.StartAsync(V1, "127.0.0.50", Echo(V1)),
                await TestBackend.StartAsync(V2, "127.0.0.51", Echo(V2)),
                await TestBackend.StartAsync(V3, "127.0.0.52", Echo(V3)),
                await TestBackend.StartAsync(Web, "127.0.0.53", Echo(Web)),
            ];
            Server = await FakeApiServer.StartAsync();
            Server.Apply(ApiResource.GatewayClasses, GatewayClass(ClassName, Controller));
            (Host, _localPorts) = await ControllerHost.StartGatewayAsync(Server, Controller, GatewayPorts);
        }

        /// <summary>A namespace holding Services infra-backend-v1/v2/v3 (port 80) whose EndpointSlices point at the class's backends.</summary>
        internal string Infra(string ns)
        {
            IngressControllerTests.Pods(Server, ns, (V1, _backends[0]), (V2, _backends[1]), (V3, _backends[2]));
            return ns;
        }

        /// <summary>Service web-backend (port 80) in <paramref name="ns"/>.</summary>
        internal void WebBackend(string ns) => IngressControllerTests.Pods(Server, ns, (Web, _backends[3]));

        /// <summary>The suite's usual Gateway: one HTTP listener admitting routes of its own namespace.</summary>
        internal void SameNamespaceGateway(string ns, int port) =>
            Server.Apply(ApiResource.Gateways, Objects.Gateway("same-namespace", ClassName, [new Listener("http", port)], ns));

        /// <summary>Sends a request to the proxy's local port for Gateway listener port <paramref name="gatewayPort"/>.</summary>
        internal async Task<Answer> SendAsync(int gatewayPort, string target, string host = "conformance.test", IReadOnlyDictionary<string, string>? headers = null, string method = "GET")
        {
            var tag = Interlocked.Increment(ref _tags).ToString(CultureInfo.InvariantCulture);
            using var request = new HttpRequestMessage(new HttpMethod(method), $"http://127.0.0.1:{_localPorts[gatewayPort]}{target}");
            request.Headers.Host = host;
            request.Headers.TryAddWithoutValidation(TagHeader, tag);
            foreach (var (name, value) in headers ?? new Dictionary<string, string>())
            {
                Assert.True(request.Headers.TryAddWithoutValidation(name, value));
            }

            using var bound = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            bound.CancelAfter(TimeSpan.FromSeconds(10));
            using var response = await Client.SendAsync(request, bound.Token);
            var body = await response.Content.ReadAsStringAsync(bound.Token);
            var received = response.Headers.Concat(response.Content.Headers)
                .ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase);
            var seen = _backends.SelectMany(b => b.Requests).FirstOrDefault(r => r.Headers.TryGetValue(TagHeader, out var t) && t == tag);
            return new Answer((int)response.StatusCode, body, response.Headers.Location?.OriginalString, received, seen);
        }

        /// <summary>Expects <paramref name="backend"/> to answer 200; returns the exchange.</summary>
        internal async Task<Answer> ExpectAsync(int gatewayPort, string target, string backend, string host = "conformance.test", IReadOnlyDictionary<string, string>? headers = null, string method = "GET")
        {
            var answer = await SendAsync(gatewayPort, target, host, headers, method);
            Assert.Equal((method, host, target, 200, backend), (method, host, target, answer.Status, answer.Body));
            Assert.NotNull(answer.Seen);
            return answer;
        }

        internal async Task ExpectStatusAsync(int gatewayPort, string target, int status, string host = "conformance.test", IReadOnlyDictionary<string, string>? headers = null, string method = "GET")
        {
            var answer = await SendAsync(gatewayPort, target, host, headers, method);
            Assert.Equal((method, host, target, status), (method, host, target, answer.Status));
            Assert.Null(answer.Seen);
        }

        internal async Task ExpectRedirectAsync(int gatewayPort, string target, int status, string location, string host)
        {
            var answer = await SendAsync(gatewayPort, target, host);
            Assert.Equal((target, status, location), (target, answer.Status, answer.Location));
            Assert.Null(answer.Seen);
        }

        /// <summary>Waits (rebuild by rebuild, bounded) until <paramref name="backend"/> answers the request.</summary>
        internal Task UntilServedAsync(int gatewayPort, string target, string backend, string host = "conformance.test", IReadOnlyDictionary<string, string>? headers = null, string method = "GET") =>
            UntilAsync(async () => (await SendAsync(gatewayPort, target, host, headers, method)).Outcome == (200, backend));

        internal Task UntilAsync(Func<Task<bool>> check) => ControllerHost.UntilAsync(Gateway, check);

        /// <summary>Waits until the route's status entry (for <paramref name="section"/>'s parentRef, else the first) has the condition; returns the entry.</summary>
        internal async Task<JsonNode> RouteConditionAsync(string ns, string name, string type, string status, string reason, string? section = null)
        {
            JsonNode? Entry(JsonObject? route) => route?["status"]?["parents"]?.AsArray()
                .FirstOrDefault(p => section is null || p?["parentRef"]?["sectionName"]?.GetValue<string>() == section);
            bool Holds(JsonObject? route) =>
                Condition(Entry(route), type) is { } c && c["status"]?.GetValue<string>() == status && c["reason"]?.GetValue<string>() == reason;

            var route = await WaitAsync(ApiResource.HttpRoutes, ns, name, Holds);
            var entry = Entry(route)!;
            Assert.Equal(Controller, entry["controllerName"]!.GetValue<string>());
            AssertCondition(entry, type, status, reason);
            return entry;
        }

        /// <summary>Waits until the Gateway's listener status counts <paramref name="attachedRoutes"/>; returns it.</summary>
        internal async Task<JsonNode> ListenerAsync(string ns, string gateway, string listener, int attachedRoutes)
        {
            JsonNode? Find(JsonObject? o) => o?["status"]?["listeners"]?.AsArray().FirstOrDefault(l => l?["name"]?.GetValue<string>() == listener);
            var found = await WaitAsync(ApiResource.Gateways, ns, gateway, o => Find(o)?["attachedRoutes"]?.GetValue<int>() == attachedRoutes);
            return Find(found)!;
        }

        /// <summary>Waits (bounded) until the object satisfies <paramref name="condition"/>; on time-out fails showing the object as it is.</summary>
        internal async Task<JsonObject> WaitAsync(ApiResource resource, string ns, string name, Func<JsonObject?, bool> condition)
        {
            try
            {
                return (await Server.WaitForAsync(resource, ns, name, condition, TestContext.Current.CancellationToken)
                    .WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken))!;
            }
            catch (TimeoutException)
            {
                Assert.Fail($"{resource.Kind} {ns}/{name} never reached the expected state; it is now: {Server.Get(resource, ns, name)?["status"]?.ToJsonString() ?? "(no status)"}");
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            if (Host is not null)
            {
                await Host.DisposeAsync();
            }

            if (Server is not null)
            {
                await Server.DisposeAsync();
            }

            foreach (var backend in _backends)
            {
                await backend.DisposeAsync();
            }
        }

        /// <summary>
        /// What the suite's echo server does that these cases need: answers its name, with the response headers
        /// <see cref="EchoHeader"/> lists, after <c>delay-ms</c> milliseconds when the query asks for a delay.
        /// </summary>
        private static RequestDelegate Echo(string name) => async context =>
        {
            foreach (var pair in context.Request.Headers[EchoHeader].ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var colon = pair.IndexOf(':', StringComparison.Ordinal);
                context.Response.Headers.Append(pair[..colon], pair[(colon + 1)..]);
            }

            if (int.TryParse(context.Request.Query["delay-ms"], NumberStyles.None, CultureInfo.InvariantCulture, out var delay))
            {
                try
                {
                    await Task.Delay(delay, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }

            await context.Response.WriteAsync(name, context.RequestAborted);
        };
    }
}
