using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LoadBalancing.Proxy.Kubernetes.Api;
using LoadBalancing.Kubernetes.Tests.Support;
using static LoadBalancing.Kubernetes.Tests.Support.Objects;
using static LoadBalancing.Proxy.Kubernetes.Tests.Gateway.GatewayFixture;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Gateway;

/// <summary>GatewayClass and Gateway status, listener judgement, reading objects, and isolation between routes.</summary>
public sealed class GatewayStatusTests
{
    [Fact]
    public void GatewayClass_OfOurController_IsAccepted_OthersGetNothing()
    {
        var result = new GatewayFixture().Translate();

        var status = StatusOf(result, ApiKind.GatewayClass, null, "lb");
        Assert.Equal(("True", "Accepted", 0L), Condition(status["conditions"]!.AsArray(), "Accepted"));
        Assert.DoesNotContain(result.Statuses, s => s.Name == "other");
    }

    [Fact]
    public void Gateway_IsAcceptedAndProgrammed_WithAddresses_ListenersAndAttachedRoutes()
    {
        var result = new GatewayFixture().SameNamespaceGateway().Service(Infra, "web", new ServicePort("http", 80))
            .Route(HttpRoute("r1", [new ParentRef("gw")], [new RouteRule(BackendRefs: [new BackendRef("web", 80)])], ns: Infra))
            .Route(HttpRoute("r2", [new ParentRef("gw"), new ParentRef("gw", SectionName: "http")], [new RouteRule([new RouteMatch("/two")], [new BackendRef("web", 80)])], ns: Infra))
            .Translate();

        var status = StatusOf(result, ApiKind.Gateway, Infra, "gw");
        Assert.Equal(("True", "Accepted", 1L), Condition(status["conditions"]!.AsArray(), "Accepted"));
        Assert.Equal(("True", "Programmed", 1L), Condition(status["conditions"]!.AsArray(), "Programmed"));
        Assert.Equal("IPAddress", (string?)status["addresses"]![0]!["type"]);
        Assert.Equal("10.0.0.1", (string?)status["addresses"]![0]!["value"]);
        var listener = ListenerStatus(result, Infra, "gw", "http");
        Assert.Equal(2, (int)listener["attachedRoutes"]!);
        Assert.Equal("HTTPRoute", (string?)listener["supportedKinds"]![0]!["kind"]);
        Assert.Equal(GatewayGroup, (string?)listener["supportedKinds"]![0]!["group"]);
        var conditions = listener["conditions"]!.AsArray();
        Assert.Equal(("True", "Accepted", 1L), Condition(conditions, "Accepted"));
        Assert.Equal(("True", "ResolvedRefs", 1L), Condition(conditions, "ResolvedRefs"));
        Assert.Equal(("True", "Programmed", 1L), Condition(conditions, "Programmed"));
        Assert.Equal(("False", "NoConflicts", 1L), Condition(conditions, "Conflicted"));
        Assert.Equal("gateway:infra/web:http", result.Set.Routes[0].Cluster);
    }

    [Fact]
    public void Listeners_UnsupportedProtocol_PortUnavailable_Conflicts_AndCertificateRefs()
    {
        var fixture = new GatewayFixture { ServedPorts = new HashSet<int> { 80, 443 } };
        var result = fixture
            .Gateway(Objects.Gateway("gw", "lb",
            [
                new Objects.Listener("tcp", 9000, "TCP"),
                new Objects.Listener("unserved", 8081),
                new Objects.Listener("dup-a", 80, Hostname: "a.example"),
                new Objects.Listener("dup-b", 80, Hostname: "a.example"),
                new Objects.Listener("fine", 80, Hostname: "b.example"),
                new Objects.Listener("https", 443, "HTTPS", Hostname: "secure.example", CertificateRefs: ["cert"]),
            ], ns: Infra), generation: 7)
            .Gateway(Objects.Gateway("mixed", "lb", [new Objects.Listener("http", 443), new Objects.Listener("https", 443, "HTTPS", CertificateRefs: ["cert"])], ns: Infra))
            .Translate();

        (string, string, long) Cond(string gateway, string listener, string type) => Condition(ListenerStatus(result, Infra, gateway, listener)["conditions"]!.AsArray(), type);
        Assert.Equal(("False", "UnsupportedProtocol", 7L), Cond("gw", "tcp", "Accepted"));
        Assert.Equal(("False", "PortUnavailable", 7L), Cond("gw", "unserved", "Accepted"));
        Assert.Equal(("True", "HostnameConflict", 7L), Cond("gw", "dup-a", "Conflicted"));
        Assert.Equal(("True", "HostnameConflict", 7L), Cond("gw", "dup-b", "Conflicted"));
        Assert.Equal(("False", "Invalid", 7L), Cond("gw", "dup-b", "Programmed"));
        Assert.Equal(("True", "Programmed", 7L), Cond("gw", "fine", "Programmed"));
        Assert.Equal(("True", "Programmed", 7L), Cond("gw", "https", "Programmed"));
        Assert.Equal(("True", "ProtocolConflict", 1L), Cond("mixed", "http", "Conflicted"));
        var gateway = StatusOf(result, ApiKind.Gateway, Infra, "gw")["conditions"]!.AsArray();
        Assert.Equal(("True", "ListenersNotValid", 7L), Condition(gateway, "Accepted"));
        Assert.Equal(("True", "Programmed", 7L), Condition(gateway, "Programmed"));
        var mixed = StatusOf(result, ApiKind.Gateway, Infra, "mixed")["conditions"]!.AsArray();
        Assert.Equal(("False", "ListenersNotValid", 1L), Condition(mixed, "Accepted"));
        Assert.Equal(("False", "Invalid", 1L), Condition(mixed, "Programmed"));
        var certificate = Assert.Single(result.Certificates);
        Assert.Equal(("infra/gw", "https", 443, "secure.example", "infra", "cert"), (certificate.Gateway, certificate.Listener, certificate.Port, certificate.Hostname, certificate.SecretNamespace, certificate.SecretName));
    }

    [Fact]
    public void CertificateRefs_InAnotherNamespace_NeedAReferenceGrant()
    {
        var gateway = Objects.Gateway("gw", "lb", [new Objects.Listener("https", 443, "HTTPS", CertificateRefs: ["cert"]), new Objects.Listener("granted", 8443, "HTTPS", CertificateRefs: ["cert"])], ns: Infra);
        gateway["spec"]!["listeners"]![0]!["tls"]!["certificateRefs"]![0]!["namespace"] = "secrets";
        gateway["spec"]!["listeners"]![1]!["tls"]!["certificateRefs"]![0]!["namespace"] = "granted";
        var result = new GatewayFixture().Gateway(gateway)
            .Grant(ReferenceGrant("allow", "granted", [(GatewayGroup, "Gateway", Infra)], [("", "Secret", null)]))
            .Translate();

        var conditions = ListenerStatus(result, Infra, "gw", "https")["conditions"]!.AsArray();
        Assert.Equal(("False", "RefNotPermitted", 1L), Condition(conditions, "ResolvedRefs"));
        Assert.Equal(("False", "Invalid", 1L), Condition(conditions, "Programmed"));
        Assert.Equal(("granted", "cert"), (Assert.Single(result.Certificates).SecretNamespace, result.Certificates[0].SecretName));
    }

    [Fact]
    public void AllowedRoutes_Selector_AdmitsNamespacesByLabel()
    {
        var gateway = Objects.Gateway("gw", "lb", [new Objects.Listener("http", 80, AllowedRoutes: new Objects.AllowedRoutes("Selector", new Dictionary<string, string> { ["team"] = "shop" }))], ns: Infra);
        var result = new GatewayFixture().Gateway(gateway)
            .Namespace("shop", new Dictionary<string, string> { ["team"] = "shop" }).Namespace("blog")
            .Service("shop", "web", new ServicePort(null, 80)).Service("blog", "web", new ServicePort(null, 80))
            .Route(HttpRoute("in", [new ParentRef("gw", Infra)], [new RouteRule(BackendRefs: [new BackendRef("web", 80)])], ns: "shop"))
            .Route(HttpRoute("out", [new ParentRef("gw", Infra)], [new RouteRule(BackendRefs: [new BackendRef("web", 80)])], ns: "blog"))
            .Translate();

        Assert.Equal("gateway:shop/web:-", Assert.Single(result.Set.Routes).Cluster);
        Assert.Equal(("False", "NotAllowedByListeners", 1L), RouteCondition(result, "blog", "out", "Accepted"));
    }

    [Fact]
    public void GatewayJson_ReadsMetadataDates_IgnoresUnknownFields_AndRejectsWrongTypes()
    {
        var json = HttpRoute("r", [new ParentRef("gw", Port: 80)], [new RouteRule()], ns: Infra);
        json["metadata"]!["creationTimestamp"] = "2026-03-04T05:06:07Z";
        json["spec"]!["someFutureField"] = "x";

        var route = Read<LoadBalancing.Proxy.Kubernetes.Gateway.Model.HttpRoute>(json);

        Assert.Equal(new DateTime(2026, 3, 4, 5, 6, 7, DateTimeKind.Utc), route.Metadata.CreationTimestamp);
        Assert.Equal(80, route.Spec!.ParentRefs![0].Port);
        json["spec"]!["parentRefs"]![0]!["port"] = "eighty";
        Assert.Throws<JsonException>(() => Read<LoadBalancing.Proxy.Kubernetes.Gateway.Model.HttpRoute>(json));
    }

    /// <summary>Adding any number of broken (or newer, conflicting) HTTPRoutes never changes what a valid route produces.</summary>
    [Property(MaxTest = 40)]
    public Property OneInvalidRoute_NeverRemovesAnotherRoutesOutput()
    {
        var breakages = Gen.Elements(
            "missing-service", "bad-regex", "bad-header", "unknown-filter", "wrong-parent", "bad-timeout", "duplicate-match", "cross-namespace");
        return Prop.ForAll(Gen.ListOf(breakages).ToArbitrary(), kinds =>
        {
            var fixture = new GatewayFixture().SameNamespaceGateway().Service(Infra, "web", new ServicePort(null, 80))
                .Route(HttpRoute("good", [new ParentRef("gw")], [new RouteRule([new RouteMatch("/good")], [new BackendRef("web", 80)])], ns: Infra), createdDay: 2);
            var i = 0;
            foreach (var kind in kinds)
            {
                // A valid route claiming the same match wins when older (the spec's tie-breaker), so that one is always newer.
                fixture.Route(Broken(kind, $"bad-{i++}"), createdDay: kind == "duplicate-match" ? 3 : 1 + (i % 3));
            }

            var result = fixture.Translate();
            var good = result.Set.Routes.Where(r => r.Name == "httproute:infra/good:0:0").ToList();
            Validates(result.Set);
            return good.Count == 1 && good[0].Cluster == "gateway:infra/web:-"
                && RouteCondition(result, Infra, "good", "Accepted").Status == "True";
        });
    }

    private static System.Text.Json.Nodes.JsonObject Broken(string kind, string name)
    {
        var route = HttpRoute(name, [new ParentRef(kind == "wrong-parent" ? "nope" : "gw")], [new RouteRule([new RouteMatch($"/{name}")], [new BackendRef(kind == "missing-service" ? "missing" : "web", 80, Namespace: kind == "cross-namespace" ? "elsewhere" : null)])], ns: Infra);
        var rule = route["spec"]!["rules"]![0]!;
        var match = rule["matches"]![0]!;
        switch (kind)
        {
            case "bad-regex":
                match["path"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "RegularExpression", ["value"] = "/(" };
                break;
            case "bad-header":
                rule["filters"] = new System.Text.Json.Nodes.JsonArray(RequestHeaderModifier(set: new Dictionary<string, string> { ["Host"] = "x" }));
                break;
            case "unknown-filter":
                rule["filters"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["type"] = "SomethingNew" });
                break;
            case "bad-timeout":
                rule["timeouts"] = new System.Text.Json.Nodes.JsonObject { ["request"] = "ten seconds" };
                break;
            case "duplicate-match":
                match["path"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "PathPrefix", ["value"] = "/good" };
                break;
        }

        return route;
    }
}
