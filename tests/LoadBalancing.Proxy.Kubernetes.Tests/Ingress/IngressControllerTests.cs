using System.Globalization;
using System.Text.Json.Nodes;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Tests.Support;
using static LoadBalancing.Kubernetes.Tests.Support.Objects;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Ingress;

/// <summary>
/// The Ingress controller end to end, as ingress-nginx's basic e2e cases exercise theirs: objects in a test API
/// server, a proxy configured only by its sections (defaults otherwise), real backends on 127.x addresses standing in
/// for pods, requests over real sockets.
/// </summary>
public sealed class IngressControllerTests
{
    private const string Controller = "loadbalancing.dev/ingress-controller";

    private static readonly Dictionary<string, string?> Enabled = new() { ["Kubernetes:Ingress:Enabled"] = "true" };

    [Fact]
    public async Task HostRules_PathTypes_AndDefaultBackend_RouteToTheirServices()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.21");
        await using var api = await TestBackend.StartAsync("api", "127.0.0.22");
        await using var server = await FakeApiServer.StartAsync();
        Pods(server, "shop", ("web", web), ("api", api));
        server.Apply(ApiResource.IngressClasses, IngressClass("lb", Controller));
        server.Apply(ApiResource.Ingresses, Objects.Ingress(
            "shop",
            [
                new IngressRule("shop.test", new IngressPath("/api", new IngressBackend("api", PortName: "http")), new IngressPath("/", new IngressBackend("web", Port: 80))),
                new IngressRule("exact.test", new IngressPath("/only", new IngressBackend("api", Port: 80), "Exact")),
                new IngressRule("*.wild.test", new IngressPath("/", new IngressBackend("api", Port: 80))),
            ],
            ns: "shop",
            ingressClassName: "lb",
            defaultBackend: new IngressBackend("web", Port: 80)));

        await using var host = await ControllerHost.StartAsync(server, Enabled);

        Assert.Equal((200, "api"), await host.GetAsync("shop.test", "/api/orders"));
        Assert.Equal((200, "web"), await host.GetAsync("shop.test", "/apis"));
        Assert.Equal((200, "web"), await host.GetAsync("shop.test", "/"));
        Assert.Equal((200, "api"), await host.GetAsync("exact.test", "/only"));
        Assert.Equal((200, "web"), await host.GetAsync("exact.test", "/only/more"));
        Assert.Equal((200, "api"), await host.GetAsync("a.wild.test", "/"));
        Assert.Equal((200, "web"), await host.GetAsync("unknown.test", "/anything"));
    }

    [Fact]
    public async Task OtherClasses_AreIgnored_AndAnEditIsInServiceAfterOneRebuild()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.23");
        await using var api = await TestBackend.StartAsync("api", "127.0.0.24");
        await using var server = await FakeApiServer.StartAsync();
        Pods(server, "shop", ("web", web), ("api", api));
        server.Apply(ApiResource.IngressClasses, IngressClass("lb", Controller));
        server.Apply(ApiResource.IngressClasses, IngressClass("nginx", "k8s.io/ingress-nginx"));
        server.Apply(ApiResource.Ingresses, Objects.Ingress("ours", [new IngressRule("shop.test", new IngressPath("/", new IngressBackend("web", Port: 80)))], ns: "shop", ingressClassName: "lb"));
        server.Apply(ApiResource.Ingresses, Objects.Ingress("theirs", [new IngressRule("other.test", new IngressPath("/", new IngressBackend("api", Port: 80)))], ns: "shop", ingressClassName: "nginx"));

        await using var host = await ControllerHost.StartAsync(server, Enabled);
        var ingress = host.Controllers.Ingress!;
        Assert.Equal((200, "web"), await host.GetAsync("shop.test", "/"));
        Assert.Equal(404, (await host.GetAsync("other.test", "/")).Status);

        var rebuilt = ingress.NextRebuild;
        server.Apply(ApiResource.Ingresses, Objects.Ingress("ours", [new IngressRule("shop.test", new IngressPath("/", new IngressBackend("api", Port: 80)))], ns: "shop", ingressClassName: "lb"));
        await rebuilt.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal((200, "api"), await host.GetAsync("shop.test", "/"));

        // Moving the other Ingress to our class brings it in.
        rebuilt = ingress.NextRebuild;
        server.Apply(ApiResource.Ingresses, Objects.Ingress("theirs", [new IngressRule("other.test", new IngressPath("/", new IngressBackend("api", Port: 80)))], ns: "shop", ingressClassName: "lb"));
        await rebuilt.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal((200, "api"), await host.GetAsync("other.test", "/"));
    }

    [Fact]
    public async Task ABrokenIngress_NeverTakesOutTheOthers_AndAnUnreadableEditKeepsTheLastGoodRoutes()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.25");
        await using var server = await FakeApiServer.StartAsync();
        Pods(server, "shop", ("web", web));
        server.Apply(ApiResource.IngressClasses, IngressClass("lb", Controller));
        server.Apply(ApiResource.Ingresses, Objects.Ingress("good", [new IngressRule("good.test", new IngressPath("/", new IngressBackend("web", Port: 80)))], ns: "shop", ingressClassName: "lb"));
        server.Apply(ApiResource.Ingresses, Objects.Ingress("missing", [new IngressRule("missing.test", new IngressPath("/", new IngressBackend("nope", Port: 80)))], ns: "shop", ingressClassName: "lb"));
        var unreadable = Objects.Ingress("garbled", [], ns: "shop", ingressClassName: "lb");
        unreadable["spec"]!["rules"] = "not a list";
        server.Apply(ApiResource.Ingresses, unreadable);

        await using var host = await ControllerHost.StartAsync(server, Enabled);
        var ingress = host.Controllers.Ingress!;
        Assert.Equal((200, "web"), await host.GetAsync("good.test", "/"));
        Assert.Equal(503, (await host.GetAsync("missing.test", "/")).Status);
        Assert.Contains(ingress.Problems, p => p.Contains("shop/garbled", StringComparison.Ordinal));
        Assert.Contains(ingress.Problems, p => p.Contains("shop/nope does not exist", StringComparison.Ordinal));

        // An edit that cannot be read keeps the routes the last good version made.
        var rebuilt = ingress.NextRebuild;
        var broken = Objects.Ingress("good", [], ns: "shop", ingressClassName: "lb");
        broken["spec"]!["rules"] = 42;
        server.Apply(ApiResource.Ingresses, broken);
        await rebuilt.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal((200, "web"), await host.GetAsync("good.test", "/"));
        Assert.Contains(ingress.Problems, p => p.Contains("shop/good", StringComparison.Ordinal));

        // /backends says which object and version each route comes from, that this one is the last good version's,
        // and how fresh every watch is.
        using var backends = System.Text.Json.JsonDocument.Parse(await host.Admin.GetStringAsync("backends", TestContext.Current.CancellationToken));
        var route = backends.RootElement.GetProperty("routes").EnumerateArray().Single(r => r.GetProperty("name").GetString() == "ingress:shop/good:0:0");
        var origin = route.GetProperty("origin");
        Assert.Equal(("Ingress", "shop", "good"), (origin.GetProperty("Kind").GetString(), origin.GetProperty("Namespace").GetString(), origin.GetProperty("Name").GetString()));
        Assert.Contains("cannot be read", origin.GetProperty("Problem").GetString(), StringComparison.Ordinal);
        Assert.Equal("current", route.GetProperty("clusters")[0].GetProperty("freshness").GetString());
        var feeds = backends.RootElement.GetProperty("routeSources").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "ingress").GetProperty("feeds");
        var watch = feeds.EnumerateArray().Single(f => f.GetProperty("name").GetString() == "ingresses.networking.k8s.io");
        Assert.True(watch.GetProperty("synced").GetBoolean());
        Assert.True(watch.GetProperty("unreadable").GetInt64() >= 2);
    }

    [Fact]
    public async Task ADroppedOrHungWatch_StillDeliversTheNextChange()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.26");
        await using var api = await TestBackend.StartAsync("api", "127.0.0.27");
        await using var server = await FakeApiServer.StartAsync();
        Pods(server, "shop", ("web", web), ("api", api));
        server.Apply(ApiResource.IngressClasses, IngressClass("lb", Controller));
        server.Apply(ApiResource.Ingresses, Objects.Ingress("shop", [new IngressRule("shop.test", new IngressPath("/", new IngressBackend("web", Port: 80)))], ns: "shop", ingressClassName: "lb"));

        await using var host = await ControllerHost.StartAsync(server, Enabled);
        var ingress = host.Controllers.Ingress!;
        Assert.Equal((200, "web"), await host.GetAsync("shop.test", "/"));

        // The connection is cut; the watch resumes from its resourceVersion and hears the change.
        server.DropActiveWatches();
        var rebuilt = ingress.NextRebuild;
        server.Apply(ApiResource.Ingresses, Objects.Ingress("shop", [new IngressRule("shop.test", new IngressPath("/", new IngressBackend("api", Port: 80)))], ns: "shop", ingressClassName: "lb"));
        await rebuilt.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        Assert.Equal((200, "api"), await host.GetAsync("shop.test", "/"));
    }

    [Fact]
    public async Task StatusLoadBalancer_IsWrittenBack_ByTheLeaseHolder()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.28");
        await using var server = await FakeApiServer.StartAsync();
        Pods(server, "shop", ("web", web));
        server.Apply(ApiResource.IngressClasses, IngressClass("lb", Controller));
        server.Apply(ApiResource.Ingresses, Objects.Ingress("shop", [new IngressRule("shop.test", new IngressPath("/", new IngressBackend("web", Port: 80)))], ns: "shop", ingressClassName: "lb"));

        await using var host = await ControllerHost.StartAsync(server, new Dictionary<string, string?>(Enabled)
        {
            ["Kubernetes:Status:Addresses:0"] = "203.0.113.7",
            ["Kubernetes:Status:Addresses:1"] = "lb.example.net",
            ["Kubernetes:Status:Identity"] = "proxy-0",
        });

        var written = await server.WaitForAsync(
            ApiResource.Ingresses, "shop", "shop", o => o?["status"]?["loadBalancer"]?["ingress"] is JsonArray { Count: 2 }, TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        var entries = written!["status"]!["loadBalancer"]!["ingress"]!.AsArray();
        Assert.Equal("203.0.113.7", entries[0]!["ip"]!.GetValue<string>());
        Assert.Equal("lb.example.net", entries[1]!["hostname"]!.GetValue<string>());
        Assert.Equal("proxy-0", server.Get(ApiResource.Leases, "default", "loadbalancing-controller")!["spec"]!["holderIdentity"]!.GetValue<string>());
    }

    [Fact]
    public async Task AStatusOnlyChange_DoesNotRebuildTheRoutes()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.30");
        await using var server = await FakeApiServer.StartAsync();
        Pods(server, "shop", ("web", web));
        server.Apply(ApiResource.IngressClasses, IngressClass("lb", Controller));
        var first = Objects.Ingress("first", [new IngressRule("first.test", new IngressPath("/", new IngressBackend("web", Port: 80)))], ns: "shop", ingressClassName: "lb");
        server.Apply(ApiResource.Ingresses, first);

        await using var host = await ControllerHost.StartAsync(server, Enabled);
        var ingress = host.Controllers.Ingress!;
        var watch = ingress.Watches.OfType<Api.ObjectWatch<k8s.Models.V1Ingress>>().Single();
        var before = watch.Signals;

        // A status write to one Ingress, then a new Ingress on the same watch stream: only the second is a change.
        var withStatus = (JsonObject)first.DeepClone();
        withStatus["status"] = IngressStatus("198.51.100.1");
        server.Apply(ApiResource.Ingresses, withStatus);
        server.Apply(ApiResource.Ingresses, Objects.Ingress("second", [new IngressRule("second.test", new IngressPath("/", new IngressBackend("web", Port: 80)))], ns: "shop", ingressClassName: "lb"));
        await ControllerHost.UntilAsync(ingress, async () => (await host.GetAsync("second.test", "/")).Status == 200);

        Assert.Equal(before + 1, watch.Signals);
    }

    [Fact]
    public async Task GatewayApiNotInstalled_DoesNotHoldBackTheIngressRoutes()
    {
        await using var web = await TestBackend.StartAsync("web", "127.0.0.29");
        await using var server = await FakeApiServer.StartAsync();
        Pods(server, "shop", ("web", web));
        server.Apply(ApiResource.IngressClasses, IngressClass("lb", Controller));
        server.Apply(ApiResource.Ingresses, Objects.Ingress("shop", [new IngressRule("shop.test", new IngressPath("/", new IngressBackend("web", Port: 80)))], ns: "shop", ingressClassName: "lb"));
        foreach (var kind in new[] { ApiResource.GatewayClasses, ApiResource.Gateways, ApiResource.HttpRoutes, ApiResource.ReferenceGrants })
        {
            server.FailNext(kind, ApiVerb.List, Fault.NotFound, times: 100);
        }

        await using var host = await ControllerHost.StartAsync(server, new Dictionary<string, string?>(Enabled) { ["Kubernetes:Gateway:Enabled"] = "true" });

        Assert.True(host.Controllers.Gateway!.HasPublished);
        Assert.Equal((200, "web"), await host.GetAsync("shop.test", "/"));
        Assert.Equal(System.Net.HttpStatusCode.OK, (await host.Admin.GetAsync("readyz", TestContext.Current.CancellationToken)).StatusCode);
    }

    [Fact]
    public async Task BackendProtocolGrpc_CallsReachTheGrpcPod_OverH2cOnTheDefaultListener()
    {
        await using var pod = await GrpcEchoBackend.StartAsync("grpc-pod", "127.0.0.35");
        await using var server = await FakeApiServer.StartAsync();
        server.Apply(ApiResource.Services, Service("grpc", [new ServicePort("grpc", 50051, pod.EndPoint.Port)], "shop"));
        server.Apply("shop", Slices.Slice("grpc-1", "grpc", [new([pod.EndPoint.Address.ToString()])], [("grpc", pod.EndPoint.Port)]));
        server.Apply(ApiResource.IngressClasses, IngressClass("lb", Controller));
        server.Apply(ApiResource.Ingresses, Objects.Ingress("grpc", [new IngressRule("grpc.test", new IngressPath("/", new IngressBackend("grpc", Port: 50051)))],
            ns: "shop", ingressClassName: "lb", annotations: new Dictionary<string, string> { ["nginx.ingress.kubernetes.io/backend-protocol"] = "GRPC" }));

        await using var host = await ControllerHost.StartAsync(server, Enabled);

        // A gRPC client without TLS speaks prior-knowledge h2c to the proxy's one (default) listener.
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress($"http://{host.Listeners.ProxyEndPoint}", new Grpc.Net.Client.GrpcChannelOptions
        {
            HttpHandler = new AuthorityHandler("grpc.test") { InnerHandler = new SocketsHttpHandler { UseProxy = false } },
        });
        var answer = await channel.CreateCallInvoker().AsyncUnaryCall(GrpcEchoBackend.Method("Echo"), null,
            new Grpc.Core.CallOptions(deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: TestContext.Current.CancellationToken), "hello");

        Assert.Equal("grpc-pod", answer);
        Assert.Equal("Echo", Assert.Single(pod.Calls).Method);
    }

    [Fact]
    public async Task UpstreamHashBy_KeepsEachUserOnOnePod()
    {
        await using var first = await TestBackend.StartAsync("pod-1", "127.0.0.31");
        await using var second = await TestBackend.StartAsync("pod-2", "127.0.0.32");
        await using var server = await FakeApiServer.StartAsync();
        server.Apply(ApiResource.Services, Service("web", [new ServicePort("http", 80)], "shop"));
        foreach (var (slice, pod) in new[] { ("web-1", first), ("web-2", second) })
        {
            var (ip, port) = (pod.Address.Split(':')[0], int.Parse(pod.Address.Split(':')[1], CultureInfo.InvariantCulture));
            server.Apply("shop", Slices.Slice(slice, "web", [new([ip])], [("http", port)]));
        }

        server.Apply(ApiResource.IngressClasses, IngressClass("lb", Controller));
        server.Apply(ApiResource.Ingresses, Objects.Ingress(
            "shop",
            [new IngressRule("shop.test", new IngressPath("/", new IngressBackend("web", Port: 80)))],
            ns: "shop",
            ingressClassName: "lb",
            annotations: new Dictionary<string, string> { ["nginx.ingress.kubernetes.io/upstream-hash-by"] = "$http_x_user" }));

        await using var host = await ControllerHost.StartAsync(server, Enabled);

        var pods = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        for (var round = 0; round < 4; round++)
        {
            for (var user = 0; user < 20; user++)
            {
                var name = string.Create(CultureInfo.InvariantCulture, $"user-{user}");
                using var request = new HttpRequestMessage(HttpMethod.Get, "/profile");
                request.Headers.Host = "shop.test";
                request.Headers.Add("X-User", name);
                using var response = await host.Client.SendAsync(request, TestContext.Current.CancellationToken);
                Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
                var pod = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
                (pods.TryGetValue(name, out var seen) ? seen : pods[name] = new HashSet<string>(StringComparer.Ordinal)).Add(pod);
            }
        }

        Assert.All(pods.Values, seen => Assert.Single(seen));
        Assert.Equal(["pod-1", "pod-2"], pods.Values.Select(p => p.Single()).Distinct().Order(StringComparer.Ordinal));
    }

    /// <summary>For each (Service, backend): a Service with port 80 named http, and an EndpointSlice with the backend as its one pod.</summary>
    internal static void Pods(FakeApiServer server, string ns, params (string Service, TestBackend Backend)[] services)
    {
        foreach (var (service, backend) in services)
        {
            var (ip, port) = (backend.Address.Split(':')[0], int.Parse(backend.Address.Split(':')[1], CultureInfo.InvariantCulture));
            server.Apply(ApiResource.Services, Service(service, [new ServicePort("http", 80, port)], ns));
            server.Apply(ns, Slices.Slice($"{service}-1", service, [new([ip])], [("http", port)]));
        }
    }
}
