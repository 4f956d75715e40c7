using System.Text.Json;
using System.Text.Json.Nodes;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace ProxyHost.Tests;

/// <summary>
/// GET /backends names the EndpointSlices (and their resourceVersions) a Service-fed cluster's endpoints were built
/// from: ProxyHost with Kubernetes discovery against the test API server, read over the admin port.
/// </summary>
public sealed class BackendsOriginsTests
{
    [Fact]
    public async Task Backends_ServiceCluster_NamesItsSlices_AndFollowsEveryChangeOfThem()
    {
        var token = TestContext.Current.CancellationToken;
        await using var pod = await TestBackend.StartAsync("pod-a", "127.0.0.8");
        await using var api = await FakeApiServer.StartAsync();
        var port = int.Parse(pod.Address.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        var first = api.Apply("shop", WithAppProtocol(Slices.Slice("web-1", "web", [new(["127.0.0.8"])], [("http", port), ("metrics", 9090)]), "http", "kubernetes.io/h2c"));
        api.Apply("shop", Slices.Slice("web-v6", "web", [new(["::1"])], [("http", port)], addressType: "IPv6")); // the other family: not used
        var file = Path.Combine(Path.GetTempPath(), $"proxyhost-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, $$"""
            {
              "Kubernetes": { "ApiServer": "{{api.Url}}" },
              "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:0" } ],
                "Admin": { "Url": "http://127.0.0.1:0" },
                "Routes": [ { "Path": "/", "Cluster": "web" } ],
                "Clusters": {
                  "web": { "Kubernetes": { "Namespace": "shop", "Service": "web", "Port": "http" } },
                  "files": { "Endpoints": [ { "Address": "{{pod.Address}}" } ] }
                }
              }
            }
            """, token);
        var (app, _) = await ProxyHostApp.BuildAsync(["--config", file]);
        await app.StartAsync(token);
        try
        {
            var listeners = app.Services.GetRequiredService<ProxyListeners>();
            using var admin = new HttpClient { BaseAddress = new Uri($"http://{listeners.AdminEndPoint}/"), Timeout = TimeSpan.FromSeconds(30) };

            var (source, files) = await SourcesAsync(admin, token);
            var origin = Assert.Single(Origins(source));
            Assert.Equal(("EndpointSlice", "web-1", first.ToString(System.Globalization.CultureInfo.InvariantCulture)), (Text(origin["kind"]), Text(origin["name"]), Text(origin["version"])));
            Assert.Equal(
                new Dictionary<string, string?> { ["addressType"] = "IPv4", ["port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture), ["portName"] = "http", ["appProtocol"] = "kubernetes.io/h2c", ["endpoints"] = "1" },
                origin["details"]!.AsObject().ToDictionary(p => p.Key, p => Text(p.Value)));
            Assert.Equal("Configuration", Text(files["kind"]));
            Assert.Null(files["origins"]); // a configured list describes no origins

            // A second slice joins: both are named, by name.
            var second = api.Apply("shop", Slices.Slice("web-2", "web", [new(["127.0.0.9"])], [("http", port)]));
            source = await WhenAsync(admin, s => Origins(s).Count == 2, token);
            Assert.Equal(["web-1", "web-2"], Origins(source).Select(o => Text(o["name"])));
            Assert.Equal(second.ToString(System.Globalization.CultureInfo.InvariantCulture), Text(Origins(source)[1]["version"]));
            Assert.False(Origins(source)[1]["details"]!.AsObject().ContainsKey("appProtocol"));

            // A change that leaves every endpoint as it was (a label) still moves the version shown.
            var relabelled = Slices.Slice("web-2", "web", [new(["127.0.0.9"])], [("http", port)]);
            relabelled["metadata"]!["labels"]!["team"] = "shop";
            var third = api.Apply("shop", relabelled).ToString(System.Globalization.CultureInfo.InvariantCulture);
            source = await WhenAsync(admin, s => Origins(s).Any(o => Text(o["version"]) == third), token);
            Assert.Equal(["web-1", "web-2"], Origins(source).Select(o => Text(o["name"])));

            // A slice deleted leaves the list.
            api.Delete("shop", "web-1");
            source = await WhenAsync(admin, s => Origins(s).Count == 1, token);
            Assert.Equal("web-2", Text(Origins(source)[0]["name"]));
        }
        finally
        {
            await app.StopAsync(token);
            await app.DisposeAsync();
            File.Delete(file);
        }
    }

    private static JsonObject WithAppProtocol(JsonObject slice, string portName, string appProtocol)
    {
        foreach (var port in slice["ports"]!.AsArray())
        {
            if (Text(port!["name"]) == portName)
            {
                port["appProtocol"] = appProtocol;
            }
        }

        return slice;
    }

    private static async Task<(JsonObject Web, JsonObject Files)> SourcesAsync(HttpClient admin, CancellationToken token)
    {
        var backends = JsonNode.Parse(await admin.GetStringAsync("backends", token))!;
        var clusters = backends["clusters"]!.AsArray().OfType<JsonObject>().ToDictionary(c => Text(c["name"])!);
        return (clusters["web"]["source"]!.AsObject(), clusters["files"]["source"]!.AsObject());
    }

    /// <summary>Reads /backends until the web cluster's source satisfies <paramref name="condition"/> (bounded).</summary>
    private static async Task<JsonObject> WhenAsync(HttpClient admin, Func<JsonObject, bool> condition, CancellationToken token)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var (source, _) = await SourcesAsync(admin, token);
            if (condition(source))
            {
                return source;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"/backends never showed the expected source within 20 s; last: {source.ToJsonString()}");
            }

            await Task.Delay(50, token);
        }
    }

    private static List<JsonObject> Origins(JsonObject source) => [.. source["origins"]!.AsArray().OfType<JsonObject>()];

    private static string? Text(JsonNode? node) => node?.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : node?.ToJsonString();
}
