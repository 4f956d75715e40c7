using System.Text.Json.Nodes;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Kubernetes.Api;
using LoadBalancing.Proxy.Kubernetes.Status;
using LoadBalancing.Proxy.Kubernetes.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static LoadBalancing.Kubernetes.Tests.Support.Objects;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Status;

/// <summary>The status writer against the test API server through a real KubernetesClient, with time faked for the condition stamps.</summary>
public sealed class StatusWriterTests
{
    private const string Ours = "example.com/lb";
    private const string Theirs = "other.io/gateway";
    private const string T0 = "2030-01-01T00:00:00Z";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task WriteAsync_Gateway_WritesStatus_StampingEveryConditionWithNow()
    {
        await using var server = await FakeApiServer.StartAsync();
        server.Apply(ApiResource.Gateways, Objects.Gateway("gw", "lb", [new("http", 80)]));
        var (writer, _, client) = Writer(server, out _);
        using var _client = client;

        await writer.WriteAsync([GatewayStatus(programmed: true)], Token).WaitAsync(Bound, Token);

        var status = Status(server, ApiResource.Gateways, "gw");
        Assert.Equal("10.0.0.9", status["addresses"]![0]!["value"]!.GetValue<string>());
        Assert.Equal([T0, T0], Times(status["conditions"]));
        Assert.Equal([T0], Times(status["listeners"]![0]!["conditions"]));
        Assert.Equal((1L, 0L, 0L), (writer.Writes, writer.Conflicts, writer.Failures));
        Assert.Equal(1, server.RequestCount(ApiResource.Gateways, ApiVerb.Update));
    }

    [Fact]
    public async Task WriteAsync_ConditionsChangeLater_UnchangedKeepTheirTime_ChangedAndNewGetNow()
    {
        await using var server = await FakeApiServer.StartAsync();
        server.Apply(ApiResource.Gateways, Objects.Gateway("gw", "lb", [new("http", 80)]));
        var (writer, time, client) = Writer(server, out _);
        using var _client = client;
        await writer.WriteAsync([GatewayStatus(programmed: false)], Token).WaitAsync(Bound, Token);

        time.Advance(TimeSpan.FromHours(1));
        var later = GatewayStatus(programmed: true);
        later.Status["listeners"]![0]!["conditions"]!.AsArray().Add(Condition("ResolvedRefs", true));
        await writer.WriteAsync([later], Token).WaitAsync(Bound, Token);

        var status = Status(server, ApiResource.Gateways, "gw");
        Assert.Equal([T0, "2030-01-01T01:00:00Z"], Times(status["conditions"]));
        Assert.Equal("True", status["conditions"]![1]!["status"]!.GetValue<string>());
        Assert.Equal([T0, "2030-01-01T01:00:00Z"], Times(status["listeners"]![0]!["conditions"]));
        Assert.Equal(2, writer.Writes);
    }

    [Fact]
    public async Task WriteAsync_HttpRoute_ReplacesOnlyOurParentsEntries_KeepsOtherControllers()
    {
        await using var server = await FakeApiServer.StartAsync();
        var route = HttpRoute("web", [new("gw"), new("their-gw")], [new(BackendRefs: [new("web", 80)])]);
        var theirs = Parent("their-gw", Theirs, Condition("Accepted", true, "2029-06-01T00:00:00Z"));
        route["status"] = new JsonObject
        {
            ["parents"] = new JsonArray(theirs.DeepClone(), Parent("gw", Ours, Condition("Accepted", false, "2029-06-01T00:00:00Z"))),
        };
        server.Apply(ApiResource.HttpRoutes, route);
        var (writer, _, client) = Writer(server, out _);
        using var _client = client;

        await writer.WriteAsync([RouteStatus("web")], Token).WaitAsync(Bound, Token);

        var parents = Status(server, ApiResource.HttpRoutes, "web")["parents"]!.AsArray();
        Assert.Equal(2, parents.Count);
        Assert.True(JsonNode.DeepEquals(theirs, parents[0]));
        Assert.Equal(Ours, parents[1]!["controllerName"]!.GetValue<string>());
        Assert.Equal("True", parents[1]!["conditions"]![0]!["status"]!.GetValue<string>());
        Assert.Equal([T0], Times(parents[1]!["conditions"]));
    }

    [Fact]
    public async Task WriteAsync_SameStatusAgain_NoRequest_AfterForget_OneReadAndNoWrite()
    {
        await using var server = await FakeApiServer.StartAsync();
        server.Apply(ApiResource.Gateways, Objects.Gateway("gw", "lb", [new("http", 80)]));
        var (writer, time, client) = Writer(server, out _);
        using var _client = client;
        await writer.WriteAsync([GatewayStatus(programmed: true)], Token).WaitAsync(Bound, Token);
        var version = server.Version;
        time.Advance(TimeSpan.FromMinutes(5));

        await writer.WriteAsync([GatewayStatus(programmed: true)], Token).WaitAsync(Bound, Token);
        Assert.Equal((1, 1), (server.RequestCount(ApiResource.Gateways, ApiVerb.Get), server.RequestCount(ApiResource.Gateways, ApiVerb.Update)));

        // After a leadership change: read again, find it already so, write nothing.
        writer.Forget();
        await writer.WriteAsync([GatewayStatus(programmed: true)], Token).WaitAsync(Bound, Token);
        Assert.Equal((2, 1), (server.RequestCount(ApiResource.Gateways, ApiVerb.Get), server.RequestCount(ApiResource.Gateways, ApiVerb.Update)));
        Assert.Equal(version, server.Version);
        Assert.Equal(1, writer.Writes);
        Assert.Equal([T0, T0], Times(Status(server, ApiResource.Gateways, "gw")["conditions"]));
    }

    [Fact]
    public async Task WriteAsync_ObjectChangesBetweenReadAndWrite_ConflictIsReadAgain_TheirChangeSurvives()
    {
        await using var server = await FakeApiServer.StartAsync();
        server.Apply(ApiResource.HttpRoutes, HttpRoute("web", [new("gw"), new("their-gw")], [new(BackendRefs: [new("web", 80)])]));
        var (writer, _, client) = Writer(server, out var hook);
        using var _client = client;
        var theirs = Parent("their-gw", Theirs, Condition("Accepted", true, "2029-06-01T00:00:00Z"));

        // Another controller writes its parents entry between our read and our write.
        hook.Once(r => r.Method == HttpMethod.Put, () =>
        {
            var route = server.Get(ApiResource.HttpRoutes, "default", "web")!;
            route["status"] = new JsonObject { ["parents"] = new JsonArray(theirs.DeepClone()) };
            server.Apply(ApiResource.HttpRoutes, route);
        });
        await writer.WriteAsync([RouteStatus("web")], Token).WaitAsync(Bound, Token);

        var parents = Status(server, ApiResource.HttpRoutes, "web")["parents"]!.AsArray();
        Assert.Equal([Theirs, Ours], parents.Select(p => p!["controllerName"]!.GetValue<string>()));
        Assert.True(JsonNode.DeepEquals(theirs, parents[0]));
        Assert.Equal((1L, 1L, 0L), (writer.Writes, writer.Conflicts, writer.Failures));
        Assert.Equal((2, 2), (server.RequestCount(ApiResource.HttpRoutes, ApiVerb.Get), server.RequestCount(ApiResource.HttpRoutes, ApiVerb.Update)));
    }

    [Fact]
    public async Task WriteAsync_ConflictsEveryTime_GivesUpAfterThreeAttempts_CountsAFailure_AndTriesAgainNextCall()
    {
        await using var server = await FakeApiServer.StartAsync();
        server.Apply(ApiResource.Gateways, Objects.Gateway("gw", "lb", [new("http", 80)]));
        var (writer, _, client) = Writer(server, out var hook);
        using var _client = client;
        var edits = 0;
        hook.BeforeSend = r =>
        {
            if (r.Method == HttpMethod.Put)
            {
                var gw = server.Get(ApiResource.Gateways, "default", "gw")!;
                gw["metadata"]!["labels"] = new JsonObject { ["edit"] = (++edits).ToString(System.Globalization.CultureInfo.InvariantCulture) };
                server.Apply(ApiResource.Gateways, gw);
            }

            return Task.CompletedTask;
        };

        await writer.WriteAsync([GatewayStatus(programmed: true)], Token).WaitAsync(Bound, Token);
        Assert.Equal((0L, 3L, 1L), (writer.Writes, writer.Conflicts, writer.Failures));
        Assert.Null(server.Get(ApiResource.Gateways, "default", "gw")!["status"]);

        hook.BeforeSend = null;
        await writer.WriteAsync([GatewayStatus(programmed: true)], Token).WaitAsync(Bound, Token);
        Assert.Equal(1, writer.Writes);
        Assert.Equal("3", server.Get(ApiResource.Gateways, "default", "gw")!["metadata"]!["labels"]!["edit"]!.GetValue<string>());
    }

    [Fact]
    public async Task WriteAsync_DeletedObjects_AreSkipped_OthersInTheBatchWritten()
    {
        await using var server = await FakeApiServer.StartAsync();
        server.Apply(ApiResource.Gateways, Objects.Gateway("gw", "lb", [new("http", 80)]));
        server.Apply(ApiResource.HttpRoutes, HttpRoute("doomed", [new("gw")], [new(BackendRefs: [new("web", 80)])]));
        var (writer, _, client) = Writer(server, out var hook);
        using var _client = client;

        // "gone" never existed; "doomed" is deleted between our read and our write.
        hook.Once(
            r => r.Method == HttpMethod.Put && r.RequestUri!.AbsolutePath.Contains("/httproutes/", StringComparison.Ordinal),
            () => server.Delete(ApiResource.HttpRoutes, "default", "doomed"));
        await writer.WriteAsync([GatewayStatus(programmed: true, name: "gone"), RouteStatus("doomed"), GatewayStatus(programmed: true)], Token).WaitAsync(Bound, Token);

        Assert.Equal((1L, 0L, 0L), (writer.Writes, writer.Conflicts, writer.Failures));
        Assert.Null(server.Get(ApiResource.HttpRoutes, "default", "doomed"));
        Assert.Null(server.Get(ApiResource.Gateways, "default", "gone"));
        Assert.NotNull(server.Get(ApiResource.Gateways, "default", "gw")!["status"]);
    }

    [Fact]
    public async Task WriteAsync_ServerError_IsCountedNotThrown_AndTheNextCallWrites()
    {
        await using var server = await FakeApiServer.StartAsync();
        server.Apply(ApiResource.Ingresses, Objects.Ingress("web", [new("shop.example", new IngressPath("/", new("web", 80)))]));
        var (writer, _, client) = Writer(server, out _);
        using var _client = client;
        var desired = new DesiredStatus(ApiKind.Ingress, "default", "web", IngressStatus("10.0.0.9"));
        server.FailNext(ApiResource.Ingresses, ApiVerb.Update, Fault.ServerError);

        await writer.WriteAsync([desired], Token).WaitAsync(Bound, Token);
        Assert.Equal((0L, 1L), (writer.Writes, writer.Failures));

        await writer.WriteAsync([desired], Token).WaitAsync(Bound, Token);
        Assert.Equal(1, writer.Writes);
        var ingress = Status(server, ApiResource.Ingresses, "web");
        Assert.Equal("10.0.0.9", ingress["loadBalancer"]!["ingress"]![0]!["ip"]!.GetValue<string>());
    }

    [Fact]
    public async Task WriteAsync_ApiServerDown_IsCountedNotThrown()
    {
        await using var server = await FakeApiServer.StartAsync();
        server.Apply(ApiResource.Gateways, Objects.Gateway("gw", "lb", [new("http", 80)]));
        var (writer, _, client) = Writer(server, out _);
        using var _client = client;
        server.Down = true;

        await writer.WriteAsync([GatewayStatus(programmed: true)], Token).WaitAsync(Bound, Token);

        Assert.Equal((0L, 1L), (writer.Writes, writer.Failures));
    }

    private static (StatusWriter Writer, FakeTimeProvider Time, k8s.Kubernetes Client) Writer(FakeApiServer server, out Intercept hook)
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse(T0, System.Globalization.CultureInfo.InvariantCulture));
        (var client, hook) = Intercept.Client(server);
        return (new StatusWriter(client, time, NullLogger<StatusWriter>.Instance), time, client);
    }

    private static DesiredStatus GatewayStatus(bool programmed, string name = "gw") => new(ApiKind.Gateway, "default", name, new JsonObject
    {
        ["addresses"] = new JsonArray(new JsonObject { ["type"] = "IPAddress", ["value"] = "10.0.0.9" }),
        ["conditions"] = new JsonArray(Condition("Accepted", true), Condition("Programmed", programmed)),
        ["listeners"] = new JsonArray(new JsonObject
        {
            ["name"] = "http",
            ["attachedRoutes"] = 1,
            ["supportedKinds"] = new JsonArray(new JsonObject { ["group"] = "gateway.networking.k8s.io", ["kind"] = "HTTPRoute" }),
            ["conditions"] = new JsonArray(Condition("Accepted", true)),
        }),
    });

    private static DesiredStatus RouteStatus(string name) => new(
        ApiKind.HttpRoute, "default", name,
        new JsonObject { ["parents"] = new JsonArray(Parent("gw", null, Condition("Accepted", true))) },
        ParentsController: Ours);

    private static JsonObject Parent(string gateway, string? controller, JsonObject condition)
    {
        var parent = new JsonObject
        {
            ["parentRef"] = new JsonObject { ["group"] = "gateway.networking.k8s.io", ["kind"] = "Gateway", ["name"] = gateway },
            ["conditions"] = new JsonArray(condition),
        };
        if (controller is not null)
        {
            parent["controllerName"] = controller;
        }

        return parent;
    }

    /// <summary>A condition as the controller wants it (no time), or as stored (with <paramref name="since"/>).</summary>
    private static JsonObject Condition(string type, bool status, string? since = null)
    {
        var condition = new JsonObject
        {
            ["type"] = type,
            ["status"] = status ? "True" : "False",
            ["reason"] = status ? type : "Pending",
            ["message"] = "",
            ["observedGeneration"] = 1,
        };
        if (since is not null)
        {
            condition["lastTransitionTime"] = since;
        }

        return condition;
    }

    private static JsonObject Status(FakeApiServer server, ApiResource resource, string name) =>
        server.Get(resource, "default", name)!["status"]!.AsObject();

    private static string[] Times(JsonNode? conditions) =>
        [.. conditions!.AsArray().Select(c => c!["lastTransitionTime"]!.GetValue<string>())];
}
