using System.Text.Json.Nodes;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Kubernetes.Tests.Ingress;
using LoadBalancing.Proxy.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Tests.Support;
using static LoadBalancing.Kubernetes.Tests.Support.Objects;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Controller;

/// <summary>
/// The Gateway API controller end to end, named after the conformance suite's cases: objects in a test API server, a
/// proxy configured only through its sections, backends on 127.x addresses, requests and status over real sockets.
/// </summary>
public sealed class GatewayControllerTests
{
    private const string Controller = "loadbalancing.dev/gateway-controller";

    [Fact]
    public async Task HTTPRouteSimpleSameNamespace_WithMatching_AndRequestHeaderModifier_Routes_AndWritesStatus()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.31");
        await using var api = await TestBackend.StartAsync("api", "127.0.0.32");
        await using var server = await FakeApiServer.StartAsync();
        IngressControllerTests.Pods(server, "shop", ("web", web), ("api", api));
        server.Apply(ApiResource.GatewayClasses, GatewayClass("lb", Controller));
        server.Apply(ApiResource.Gateways, Objects.Gateway("gw", "lb", [new Listener("http", 80)], ns: "shop"));
        server.Apply(ApiResource.HttpRoutes, HttpRoute(
            "shop",
            [new ParentRef("gw")],
            [
                new RouteRule([new RouteMatch("/api")], [new BackendRef("api", 80)], [RequestHeaderModifier(set: new Dictionary<string, string> { ["X-Env"] = "e2e" })]),
                new RouteRule([new RouteMatch("/")], [new BackendRef("web", 80)]),
            ],
            hostnames: ["shop.test"],
            ns: "shop"));

        await using var host = await StartAsync(server);

        Assert.Equal((200, "api"), await host.GetAsync("shop.test", "/api/x"));
        Assert.Equal("e2e", Assert.Single(api.Requests).Headers["X-Env"]);
        Assert.Equal((200, "web"), await host.GetAsync("shop.test", "/"));
        Assert.Equal(404, (await host.GetAsync("other.test", "/")).Status);

        var route = await WaitAsync(server, ApiResource.HttpRoutes, "shop", "shop", o => Condition(o?["status"]?["parents"]?[0], "ResolvedRefs") is not null);
        var parent = route["status"]!["parents"]![0]!;
        Assert.Equal(Controller, parent["controllerName"]!.GetValue<string>());
        AssertCondition(parent, "Accepted", "True", "Accepted");
        AssertCondition(parent, "ResolvedRefs", "True", "ResolvedRefs");

        var gateway = await WaitAsync(server, ApiResource.Gateways, "shop", "gw", o => Condition(o?["status"], "Programmed") is not null);
        AssertCondition(gateway["status"]!, "Programmed", "True", "Programmed");
        Assert.Equal("203.0.113.9", gateway["status"]!["addresses"]![0]!["value"]!.GetValue<string>());
        Assert.Equal(1, gateway["status"]!["listeners"]![0]!["attachedRoutes"]!.GetValue<int>());
        var gatewayClass = await WaitAsync(server, ApiResource.GatewayClasses, "", "lb", o => Condition(o?["status"], "Accepted") is not null);
        AssertCondition(gatewayClass["status"]!, "Accepted", "True", "Accepted");
    }

    [Fact]
    public async Task HTTPRouteInvalidCrossNamespaceBackendRef_Answers500_UntilAReferenceGrantAllowsIt()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.33");
        await using var server = await FakeApiServer.StartAsync();
        IngressControllerTests.Pods(server, "backends", ("web", web));
        server.Apply(ApiResource.GatewayClasses, GatewayClass("lb", Controller));
        server.Apply(ApiResource.Gateways, Objects.Gateway("gw", "lb", [new Listener("http", 80, AllowedRoutes: new AllowedRoutes("All"))], ns: "infra"));
        server.Apply(ApiResource.HttpRoutes, HttpRoute("cross", [new ParentRef("gw", Namespace: "infra")], [new RouteRule(BackendRefs: [new BackendRef("web", 80, Namespace: "backends")])], ns: "shop"));

        await using var host = await StartAsync(server);
        var gateway = host.Controllers.Gateway!;
        Assert.Equal(500, (await host.GetAsync("any.test", "/")).Status);
        var route = await WaitAsync(server, ApiResource.HttpRoutes, "shop", "cross", o => Condition(o?["status"]?["parents"]?[0], "ResolvedRefs") is not null);
        AssertCondition(route["status"]!["parents"]![0]!, "ResolvedRefs", "False", "RefNotPermitted");

        server.Apply(ApiResource.ReferenceGrants, ReferenceGrant("allow-shop", "backends", [(GatewayGroup, "HTTPRoute", "shop")], [("", "Service", null)]));
        await ControllerHost.UntilAsync(gateway, async () => await host.GetAsync("any.test", "/") == (200, "web"));
        await WaitAsync(server, ApiResource.HttpRoutes, "shop", "cross", o => Condition(o?["status"]?["parents"]?[0], "ResolvedRefs")?["status"]?.GetValue<string>() == "True");
    }

    [Theory]
    [InlineData(404)]
    [InlineData(403)]
    public async Task GrpcRoutesNotServedOrNotGranted_TheHTTPRoutesAreServed_AndTheKindShowsAsEmpty(int status)
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.34");
        await using var server = await FakeApiServer.StartAsync();
        IngressControllerTests.Pods(server, "shop", ("web", web));
        server.Apply(ApiResource.GatewayClasses, GatewayClass("lb", Controller));
        server.Apply(ApiResource.Gateways, Objects.Gateway("gw", "lb", [new Listener("http", 80)], ns: "shop"));
        server.Apply(ApiResource.HttpRoutes, HttpRoute("shop", [new ParentRef("gw")], [new RouteRule(BackendRefs: [new BackendRef("web", 80)])], ns: "shop"));

        // Gateway API v1.0's standard channel has no GRPCRoute (404); a role written before the controller read them
        // does not grant them (403). Either way HTTPRoutes must not wait for them.
        server.FailNext(ApiResource.GrpcRoutes, ApiVerb.List, status == 404 ? Fault.NotFound : Fault.Forbidden, times: 100);

        await using var host = await StartAsync(server);

        Assert.Equal((200, "web"), await host.GetAsync("shop.test", "/"));
        Assert.Equal(System.Net.HttpStatusCode.OK, (await host.Admin.GetAsync("readyz", TestContext.Current.CancellationToken)).StatusCode);
        using var backends = System.Text.Json.JsonDocument.Parse(await host.Admin.GetStringAsync("backends", TestContext.Current.CancellationToken));
        var feed = backends.RootElement.GetProperty("routeSources").EnumerateArray()
            .SelectMany(s => s.GetProperty("feeds").EnumerateArray())
            .Single(f => f.GetProperty("name").GetString() == "grpcroutes.gateway.networking.k8s.io");
        Assert.True(feed.GetProperty("synced").GetBoolean());
        Assert.Equal(0, feed.GetProperty("objects").GetInt32());
        Assert.True(feed.TryGetProperty("lastError", out _));
    }

    [Fact]
    public async Task AListenerConfiguredHttp1Only_IsNotOfferedForGrpcRoutes()
    {
        await using var server = await FakeApiServer.StartAsync();
        server.Apply(ApiResource.GatewayClasses, GatewayClass("lb", Controller));
        server.Apply(ApiResource.Gateways, Objects.Gateway("gw", "lb", [new Listener("http", 80), new Listener("grpc", 81)], ns: "shop"));
        var (http1, both) = (ControllerHost.FreePort(), ControllerHost.FreePort());
        await using var host = await ControllerHost.StartAsync(server, new Dictionary<string, string?>
        {
            ["Proxy:Listeners:0:Url"] = $"http://127.0.0.1:{http1}",
            ["Proxy:Listeners:0:Protocols"] = "Http1",
            ["Proxy:Listeners:1:Url"] = $"http://127.0.0.1:{both}",
            ["Kubernetes:Gateway:Enabled"] = "true",
            ["Kubernetes:Gateway:ListenerPorts:80"] = http1.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Kubernetes:Gateway:ListenerPorts:81"] = both.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Kubernetes:Status:Addresses:0"] = "203.0.113.9",
        });

        static string[]? Kinds(JsonObject? gateway, string listener) => gateway?["status"]?["listeners"]?.AsArray()
            .FirstOrDefault(l => l?["name"]?.GetValue<string>() == listener)?["supportedKinds"]?.AsArray().Select(k => k!["kind"]!.GetValue<string>()).ToArray();
        var gateway = await WaitAsync(server, ApiResource.Gateways, "shop", "gw", o => Kinds(o, "http") is not null && Kinds(o, "grpc") is not null);
        Assert.Equal(["HTTPRoute"], Kinds(gateway, "http")!);
        Assert.Equal(["HTTPRoute", "GRPCRoute"], Kinds(gateway, "grpc")!);
    }

    /// <summary>A proxy whose one listener serves the Gateway listener port 80 (mapped to a free local port).</summary>
    private static Task<ControllerHost> StartAsync(FakeApiServer server)
    {
        var port = ControllerHost.FreePort();
        return ControllerHost.StartAsync(server, new Dictionary<string, string?>
        {
            ["Proxy:Listeners:0:Url"] = $"http://127.0.0.1:{port}",
            ["Kubernetes:Gateway:Enabled"] = "true",
            ["Kubernetes:Gateway:ListenerPorts:80"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Kubernetes:Status:Addresses:0"] = "203.0.113.9",
        });
    }


    private static async Task<JsonObject> WaitAsync(FakeApiServer server, ApiResource resource, string ns, string name, Func<JsonObject?, bool> condition) =>
        (await server.WaitForAsync(resource, ns, name, condition, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken))!;

    private static JsonNode? Condition(JsonNode? holder, string type) =>
        holder?["conditions"]?.AsArray().FirstOrDefault(c => c?["type"]?.GetValue<string>() == type);

    private static void AssertCondition(JsonNode holder, string type, string status, string reason)
    {
        var condition = Condition(holder, type);
        Assert.NotNull(condition);
        Assert.Equal((status, reason), (condition["status"]!.GetValue<string>(), condition["reason"]!.GetValue<string>()));
        Assert.NotNull(condition["lastTransitionTime"]);
    }
}
