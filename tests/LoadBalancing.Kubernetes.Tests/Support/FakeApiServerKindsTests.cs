using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using static LoadBalancing.Kubernetes.Tests.Support.Objects;

namespace LoadBalancing.Kubernetes.Tests.Support;

/// <summary>
/// The fake API server's kinds besides EndpointSlices, read and written through the real KubernetesClient: the typed API
/// for Services, Ingresses, IngressClasses and Leases, the custom-object API for the Gateway API kinds.
/// </summary>
public sealed class FakeApiServerKindsTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Ingresses_ListThenWatch_SeesAddsDeletesAndBookmarks_InTheirNamespaceOnly()
    {
        await using var server = await FakeApiServer.StartAsync();
        using var client = Client(server);
        server.Apply(ApiResource.Ingresses, Ingress("web", [new("shop.example", new IngressPath("/", new("web", 80)))], ns: "shop", ingressClassName: "lb"));
        server.Apply(ApiResource.Ingresses, Ingress("api", [new("api.example", new IngressPath("/v1", new("api", PortName: "http"), "Exact"))], ns: "shop"));
        server.Apply(ApiResource.Ingresses, Ingress("elsewhere", [new(null, new IngressPath("/", new("x", 80)))], ns: "other"));

        var list = await client.NetworkingV1.ListNamespacedIngressAsync("shop", cancellationToken: Token).WaitAsync(Bound, Token);

        Assert.Equal(["api", "web"], list.Items.Select(i => i.Metadata.Name));
        Assert.Equal(server.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), list.Metadata.ResourceVersion);
        var web = list.Items.Single(i => i.Metadata.Name == "web");
        Assert.Equal("lb", web.Spec.IngressClassName);
        Assert.Equal(80, web.Spec.Rules.Single().Http.Paths.Single().Backend.Service.Port.Number);
        Assert.Equal("http", list.Items.Single(i => i.Metadata.Name == "api").Spec.Rules.Single().Http.Paths.Single().Backend.Service.Port.Name);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Token);
        var watch = client.NetworkingV1.WatchListNamespacedIngressAsync(
            "shop", allowWatchBookmarks: true, resourceVersion: list.Metadata.ResourceVersion, timeoutSeconds: 60, cancellationToken: stop.Token);
        await using var events = watch.GetAsyncEnumerator(stop.Token);

        server.Apply(ApiResource.Ingresses, Ingress("elsewhere", [new(null, new IngressPath("/b", new("x", 80)))], ns: "other"));
        server.Apply(ApiResource.Ingresses, Ingress("admin", [new("admin.example", new IngressPath("/", new("admin", 8080)))], ns: "shop"));
        server.Delete(ApiResource.Ingresses, "shop", "api");
        var bookmark = server.Bookmark(ApiResource.Ingresses, "shop");

        var added = await NextAsync(events);
        var deleted = await NextAsync(events);
        var marked = await NextAsync(events);
        await stop.CancelAsync();

        Assert.Equal((WatchEventType.Added, "admin"), (added.Item1, added.Item2.Metadata.Name));
        Assert.Equal(8080, added.Item2.Spec.Rules.Single().Http.Paths.Single().Backend.Service.Port.Number);
        Assert.Equal((WatchEventType.Deleted, "api"), (deleted.Item1, deleted.Item2.Metadata.Name));
        Assert.Equal(WatchEventType.Bookmark, marked.Item1);
        Assert.Equal(bookmark.ToString(System.Globalization.CultureInfo.InvariantCulture), marked.Item2.Metadata.ResourceVersion);
    }

    [Fact]
    public async Task Services_ListAcrossNamespacesAndBySelector_WatchFromNothingStartsWithTheState_AndSelectorTransitions()
    {
        await using var server = await FakeApiServer.StartAsync();
        using var client = Client(server);
        var tier = new Dictionary<string, string> { ["tier"] = "front" };
        server.Apply(ApiResource.Services, Service("web", [new("http", 80, 8080), new("admin", 81, TargetPortName: "admin")], ns: "shop", labels: tier));
        server.Apply(ApiResource.Services, Service("db", [new(null, 5432)], ns: "shop"));
        server.Apply(ApiResource.Services, Service("web", [new("http", 80)], ns: "other", labels: tier));

        var all = await client.CoreV1.ListServiceForAllNamespacesAsync(cancellationToken: Token).WaitAsync(Bound, Token);
        var front = await client.CoreV1.ListNamespacedServiceAsync("shop", labelSelector: "tier=front", cancellationToken: Token).WaitAsync(Bound, Token);
        var read = await client.CoreV1.ReadNamespacedServiceAsync("web", "shop", cancellationToken: Token).WaitAsync(Bound, Token);

        Assert.Equal(["other/web", "shop/db", "shop/web"], all.Items.Select(s => $"{s.Metadata.NamespaceProperty}/{s.Metadata.Name}"));
        Assert.Equal(["web"], front.Items.Select(s => s.Metadata.Name));
        Assert.Equal([("http", 80, "8080"), ("admin", 81, "admin")], read.Spec.Ports.Select(p => (p.Name, p.Port, p.TargetPort.Value)));
        var missing = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ReadNamespacedServiceAsync("nope", "shop", cancellationToken: Token).WaitAsync(Bound, Token));
        Assert.Equal(HttpStatusCode.NotFound, missing.Response.StatusCode);

        // No resourceVersion: the current state as ADDED, then the changes; db joins the selector (ADDED), web leaves it (DELETED).
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Token);
        var watch = client.CoreV1.WatchListNamespacedServiceAsync("shop", labelSelector: "tier=front", timeoutSeconds: 60, cancellationToken: stop.Token);
        await using var events = watch.GetAsyncEnumerator(stop.Token);
        var initial = await NextAsync(events);
        server.Apply(ApiResource.Services, Service("db", [new(null, 5432)], ns: "shop", labels: tier));
        server.Apply(ApiResource.Services, Service("web", [new("http", 80, 8080)], ns: "shop"));
        var joined = await NextAsync(events);
        var left = await NextAsync(events);
        await stop.CancelAsync();

        Assert.Equal((WatchEventType.Added, "web"), (initial.Item1, initial.Item2.Metadata.Name));
        Assert.Equal((WatchEventType.Added, "db"), (joined.Item1, joined.Item2.Metadata.Name));
        Assert.Equal((WatchEventType.Deleted, "web"), (left.Item1, left.Item2.Metadata.Name));
    }

    [Fact]
    public async Task IngressClasses_AreClusterScoped()
    {
        await using var server = await FakeApiServer.StartAsync();
        using var client = Client(server);
        server.Apply(ApiResource.IngressClasses, IngressClass("lb", "example.com/lb", isDefault: true));
        server.Apply(ApiResource.IngressClasses, IngressClass("nginx", "k8s.io/ingress-nginx"));

        var list = await client.NetworkingV1.ListIngressClassAsync(cancellationToken: Token).WaitAsync(Bound, Token);
        var lb = await client.NetworkingV1.ReadIngressClassAsync("lb", cancellationToken: Token).WaitAsync(Bound, Token);

        Assert.Equal([("lb", "example.com/lb"), ("nginx", "k8s.io/ingress-nginx")], list.Items.Select(c => (c.Metadata.Name, c.Spec.Controller)));
        Assert.Null(lb.Metadata.NamespaceProperty);
        Assert.Equal("true", lb.Metadata.Annotations["ingressclass.kubernetes.io/is-default-class"]);
    }

    [Fact]
    public async Task GatewayApiKinds_ReadThroughTheCustomObjectApi_AndAWatchFromBeforeACompactionExpires()
    {
        await using var server = await FakeApiServer.StartAsync();
        using var client = Client(server);
        server.Apply(ApiResource.GatewayClasses, GatewayClass("lb", "example.com/gateway-controller"));
        server.Apply(ApiResource.Gateways, Gateway("edge", "lb", [new("http", 80, Hostname: "*.example", AllowedRoutes: new("All")), new("https", 443, "HTTPS", CertificateRefs: ["edge-cert"])], ns: "infra"));
        server.Apply(ApiResource.HttpRoutes, HttpRoute(
            "shop",
            [new("edge", Namespace: "infra", SectionName: "http")],
            [
                new([new("/api"), new("/v2", "Exact", Headers: new Dictionary<string, string> { ["x-canary"] = "1" })], [new("api", 8080, Weight: 90), new("api-next", 8080, Weight: 10)], [RequestHeaderModifier(set: new Dictionary<string, string> { ["x-via"] = "lb" })]),
                new(BackendRefs: [new("web", 80)]),
            ],
            hostnames: ["shop.example"],
            ns: "shop"));
        server.Apply(ApiResource.ReferenceGrants, ReferenceGrant("routes-to-infra", "infra", [(GatewayGroup, "HTTPRoute", "shop")], [("", "Service", null)]));

        var routes = await client.CustomObjects.ListNamespacedCustomObjectAsync<JsonElement>(GatewayGroup, "v1", "shop", "httproutes", cancellationToken: Token).WaitAsync(Bound, Token);
        var everywhere = await client.CustomObjects.ListClusterCustomObjectAsync<JsonElement>(GatewayGroup, "v1", "httproutes", cancellationToken: Token).WaitAsync(Bound, Token);
        var gateway = await client.CustomObjects.GetNamespacedCustomObjectAsync<JsonElement>(GatewayGroup, "v1", "infra", "gateways", "edge", cancellationToken: Token).WaitAsync(Bound, Token);
        var classes = await client.CustomObjects.ListClusterCustomObjectAsync<JsonElement>(GatewayGroup, "v1", "gatewayclasses", cancellationToken: Token).WaitAsync(Bound, Token);
        var grants = await client.CustomObjects.ListNamespacedCustomObjectAsync<JsonElement>(GatewayGroup, "v1beta1", "infra", "referencegrants", cancellationToken: Token).WaitAsync(Bound, Token);

        Assert.Equal("HTTPRouteList", routes.GetProperty("kind").GetString());
        var route = routes.GetProperty("items").EnumerateArray().Single();
        Assert.Equal("HTTPRoute", route.GetProperty("kind").GetString()); // a custom resource's list items keep their kind
        var rule = route.GetProperty("spec").GetProperty("rules")[0];
        Assert.Equal([90, 10], rule.GetProperty("backendRefs").EnumerateArray().Select(b => b.GetProperty("weight").GetInt32()));
        Assert.Equal("x-canary", rule.GetProperty("matches")[1].GetProperty("headers")[0].GetProperty("name").GetString());
        Assert.Equal("RequestHeaderModifier", rule.GetProperty("filters")[0].GetProperty("type").GetString());
        Assert.Single(everywhere.GetProperty("items").EnumerateArray());
        Assert.Equal(["http", "https"], gateway.GetProperty("spec").GetProperty("listeners").EnumerateArray().Select(l => l.GetProperty("name").GetString()));
        Assert.Equal("example.com/gateway-controller", classes.GetProperty("items")[0].GetProperty("spec").GetProperty("controllerName").GetString());
        Assert.Equal("routes-to-infra", grants.GetProperty("items")[0].GetProperty("metadata").GetProperty("name").GetString());

        // A watch from the list's version after the history was compacted: 410 Expired, as an ERROR event.
        var version = routes.GetProperty("metadata").GetProperty("resourceVersion").GetString();
        server.Apply(ApiResource.HttpRoutes, HttpRoute("later", [new("edge", "infra")], [new(BackendRefs: [new("web", 80)])], ns: "shop"));
        server.Compact();
        // KubernetesClient hands an ERROR line's Status to onError; the server then ends the stream.
        var errors = new List<Exception>();
        var seen = 0;
        var watch = client.CustomObjects.WatchListNamespacedCustomObjectAsync(GatewayGroup, "v1", "shop", "httproutes", resourceVersion: version, onError: errors.Add, cancellationToken: Token);
        await Task.Run(async () =>
        {
            await foreach (var _ in watch.WithCancellation(Token))
            {
                seen++;
            }
        }, Token).WaitAsync(Bound, Token);
        Assert.Equal(0, seen);
        Assert.Equal(410, Assert.IsType<KubernetesException>(Assert.Single(errors)).Status.Code);
    }

    [Fact]
    public async Task IngressStatus_Replace_TakesOnlyTheStatus_BumpsTheVersion_AndAStaleVersionConflicts()
    {
        await using var server = await FakeApiServer.StartAsync();
        using var client = Client(server);
        server.Apply(ApiResource.Ingresses, Ingress("web", [new("shop.example", new IngressPath("/", new("web", 80)))], ns: "shop"));
        var ingress = await client.NetworkingV1.ReadNamespacedIngressAsync("web", "shop", cancellationToken: Token).WaitAsync(Bound, Token);
        var stale = ingress.Metadata.ResourceVersion;

        ingress.Status = new V1IngressStatus { LoadBalancer = new V1IngressLoadBalancerStatus { Ingress = [new V1IngressLoadBalancerIngress { Ip = "192.0.2.10" }] } };
        ingress.Spec.Rules[0].Host = "ignored.example"; // a write to /status takes only the status
        var written = await client.NetworkingV1.ReplaceNamespacedIngressStatusAsync(ingress, "web", "shop", cancellationToken: Token).WaitAsync(Bound, Token);

        Assert.NotEqual(stale, written.Metadata.ResourceVersion);
        Assert.Equal("192.0.2.10", written.Status.LoadBalancer.Ingress.Single().Ip);
        Assert.Equal("shop.example", written.Spec.Rules[0].Host);
        Assert.Equal(1, written.Metadata.Generation);
        Assert.Equal("192.0.2.10", server.Get(ApiResource.Ingresses, "shop", "web")!["status"]!["loadBalancer"]!["ingress"]![0]!["ip"]!.GetValue<string>());

        ingress.Metadata.ResourceVersion = stale;
        ingress.Status.LoadBalancer.Ingress[0].Ip = "192.0.2.99";
        var conflict = await Assert.ThrowsAsync<HttpOperationException>(() => client.NetworkingV1.ReplaceNamespacedIngressStatusAsync(ingress, "web", "shop", cancellationToken: Token).WaitAsync(Bound, Token));
        Assert.Equal(HttpStatusCode.Conflict, conflict.Response.StatusCode);
        Assert.Contains("the object has been modified", conflict.Response.Content, StringComparison.Ordinal);

        // The same status again changes nothing: no new version (the real server skips no-op writes).
        var again = await client.NetworkingV1.ReplaceNamespacedIngressStatusAsync(written, "web", "shop", cancellationToken: Token).WaitAsync(Bound, Token);
        Assert.Equal(written.Metadata.ResourceVersion, again.Metadata.ResourceVersion);

        // A write to the object itself changes the spec (a new generation) and keeps the status.
        written.Spec.Rules[0].Host = "new.example";
        written.Status = null;
        var replaced = await client.NetworkingV1.ReplaceNamespacedIngressAsync(written, "web", "shop", cancellationToken: Token).WaitAsync(Bound, Token);
        Assert.Equal(("new.example", 2L, "192.0.2.10"), (replaced.Spec.Rules[0].Host, replaced.Metadata.Generation ?? 0, replaced.Status.LoadBalancer.Ingress.Single().Ip));
    }

    [Fact]
    public async Task HttpRouteStatus_MergePatch_ChangesOnlyTheStatus_AndAWatchSeesIt()
    {
        await using var server = await FakeApiServer.StartAsync();
        using var client = Client(server);
        server.Apply(ApiResource.HttpRoutes, HttpRoute("shop", [new("edge", "infra")], [new(BackendRefs: [new("web", 80)])], ns: "shop"));
        var before = server.Get(ApiResource.HttpRoutes, "shop", "shop")!;

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Token);
        var watch = client.CustomObjects.WatchListNamespacedCustomObjectAsync(
            GatewayGroup, "v1", "shop", "httproutes", resourceVersion: server.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), cancellationToken: stop.Token);
        await using var events = watch.GetAsyncEnumerator(stop.Token);

        var status = new JsonObject
        {
            ["status"] = new JsonObject
            {
                ["parents"] = new JsonArray(new JsonObject
                {
                    ["parentRef"] = new JsonObject { ["group"] = GatewayGroup, ["kind"] = "Gateway", ["name"] = "edge", ["namespace"] = "infra" },
                    ["controllerName"] = "example.com/gateway-controller",
                    ["conditions"] = new JsonArray(Condition("Accepted", true, "Accepted", 1)),
                }),
            },
            ["spec"] = new JsonObject { ["hostnames"] = new JsonArray("ignored.example") },
        };
        var patched = await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync<JsonElement>(
            new V1Patch(status.ToJsonString(), V1Patch.PatchType.MergePatch), GatewayGroup, "v1", "shop", "httproutes", "shop", cancellationToken: Token).WaitAsync(Bound, Token);
        var modified = await NextAsync(events);
        await stop.CancelAsync();

        var stored = server.Get(ApiResource.HttpRoutes, "shop", "shop")!;
        Assert.Equal("Accepted", stored["status"]!["parents"]![0]!["conditions"]![0]!["type"]!.GetValue<string>());
        Assert.Null(stored["spec"]!["hostnames"]);
        Assert.Equal(before["metadata"]!["generation"]!.GetValue<long>(), stored["metadata"]!["generation"]!.GetValue<long>());
        Assert.Equal(stored["metadata"]!["resourceVersion"]!.GetValue<string>(), patched.GetProperty("metadata").GetProperty("resourceVersion").GetString());
        Assert.Equal(WatchEventType.Modified, modified.Item1);
        Assert.Equal("Accepted", ((JsonElement)modified.Item2).GetProperty("status").GetProperty("parents")[0].GetProperty("conditions")[0].GetProperty("type").GetString());

        // A merge patch naming a stale resourceVersion is a precondition: 409.
        var stalePatch = new JsonObject { ["metadata"] = new JsonObject { ["resourceVersion"] = before["metadata"]!["resourceVersion"]!.DeepClone() }, ["status"] = new JsonObject() };
        var conflict = await Assert.ThrowsAsync<HttpOperationException>(() => client.CustomObjects.PatchNamespacedCustomObjectStatusAsync<JsonElement>(
            new V1Patch(stalePatch.ToJsonString(), V1Patch.PatchType.MergePatch), GatewayGroup, "v1", "shop", "httproutes", "shop", cancellationToken: Token).WaitAsync(Bound, Token));
        Assert.Equal(HttpStatusCode.Conflict, conflict.Response.StatusCode);
    }

    [Fact]
    public async Task Lease_Create_AlreadyExists_Update_AndAStaleUpdateConflicts()
    {
        await using var server = await FakeApiServer.StartAsync();
        using var client = Client(server);
        var lease = new V1Lease
        {
            Metadata = new V1ObjectMeta { Name = "lb-leader", NamespaceProperty = "infra" },
            Spec = new V1LeaseSpec { HolderIdentity = "pod-a", LeaseDurationSeconds = 15, AcquireTime = DateTime.UtcNow, RenewTime = DateTime.UtcNow },
        };

        var created = await client.CoordinationV1.CreateNamespacedLeaseAsync(lease, "infra", cancellationToken: Token).WaitAsync(Bound, Token);
        var exists = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoordinationV1.CreateNamespacedLeaseAsync(lease, "infra", cancellationToken: Token).WaitAsync(Bound, Token));
        Assert.Equal(HttpStatusCode.Conflict, exists.Response.StatusCode);
        Assert.Contains("AlreadyExists", exists.Response.Content, StringComparison.Ordinal);

        var read = await client.CoordinationV1.ReadNamespacedLeaseAsync("lb-leader", "infra", cancellationToken: Token).WaitAsync(Bound, Token);
        Assert.Equal(("pod-a", created.Metadata.ResourceVersion), (read.Spec.HolderIdentity, read.Metadata.ResourceVersion));

        // Two candidates read the same version; the first to write wins, the second gets 409 Conflict.
        read.Spec.HolderIdentity = "pod-b";
        read.Spec.LeaseTransitions = 1;
        var taken = await client.CoordinationV1.ReplaceNamespacedLeaseAsync(read, "lb-leader", "infra", cancellationToken: Token).WaitAsync(Bound, Token);
        created.Spec.RenewTime = DateTime.UtcNow;
        var lost = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoordinationV1.ReplaceNamespacedLeaseAsync(created, "lb-leader", "infra", cancellationToken: Token).WaitAsync(Bound, Token));

        Assert.Equal(HttpStatusCode.Conflict, lost.Response.StatusCode);
        Assert.Equal("pod-b", taken.Spec.HolderIdentity);
        Assert.Equal("pod-b", server.Get(ApiResource.Leases, "infra", "lb-leader")!["spec"]!["holderIdentity"]!.GetValue<string>());
        Assert.True(long.Parse(taken.Metadata.ResourceVersion, System.Globalization.CultureInfo.InvariantCulture) > long.Parse(created.Metadata.ResourceVersion, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task OneResourceVersion_AcrossKinds_AndSlicesStillServed()
    {
        await using var server = await FakeApiServer.StartAsync();
        var slice = server.Apply("shop", Slices.Slice("web-1", "web", [new(["10.0.0.1"])]));
        var ingress = server.Apply(ApiResource.Ingresses, Ingress("web", [new(null, new IngressPath("/", new("web", 80)))], ns: "shop"));
        var service = server.Apply(ApiResource.Services, Service("web", [new("http", 80)], ns: "shop"));
        var gatewayClass = server.Apply(ApiResource.GatewayClasses, GatewayClass("lb", "example.com/gateway-controller"));

        Assert.Equal([slice + 1, slice + 2, slice + 3], [ingress, service, gatewayClass]);
        Assert.Equal(gatewayClass, server.Version);
        using var client = Client(server);
        var slices = await client.DiscoveryV1.ListNamespacedEndpointSliceAsync("shop", labelSelector: "kubernetes.io/service-name in (web)", cancellationToken: Token).WaitAsync(Bound, Token);
        Assert.Equal(("web-1", gatewayClass.ToString(System.Globalization.CultureInfo.InvariantCulture)), (slices.Items.Single().Metadata.Name, slices.Metadata.ResourceVersion));
    }

    private static k8s.Kubernetes Client(FakeApiServer server) => new(new KubernetesClientConfiguration { Host = server.Url });

    private static async Task<T> NextAsync<T>(IAsyncEnumerator<T> events)
    {
        Assert.True(await events.MoveNextAsync().AsTask().WaitAsync(Bound, Token), "the watch ended");
        return events.Current;
    }
}
