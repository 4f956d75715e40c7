using System.Text.Json.Nodes;
using LoadBalancing.Proxy.Kubernetes.Status;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Status;

/// <summary>The pure merge behind the status writer: what is kept, what is stamped, and that a merged status merges to itself.</summary>
public sealed class StatusMergeTests
{
    private const string Then = "2029-01-01T00:00:00Z";
    private const string Now = "2030-01-01T00:00:00Z";

    [Fact]
    public void Merge_ListenersInAnotherOrder_AreMatchedByName_AndKeepTheirTimes()
    {
        var current = Parse($$"""
            {"listeners":[
              {"name":"a","conditions":[{"type":"Accepted","status":"True","lastTransitionTime":"{{Then}}"}]},
              {"name":"b","conditions":[{"type":"Accepted","status":"False","lastTransitionTime":"{{Then}}"}]}]}
            """);
        var desired = Parse("""
            {"listeners":[
              {"name":"b","conditions":[{"type":"Accepted","status":"False"}]},
              {"name":"a","conditions":[{"type":"Accepted","status":"False"}]}]}
            """);

        var merged = StatusMerge.Merge(current, desired, null, Now);

        Assert.Equal(Then, merged["listeners"]![0]!["conditions"]![0]!["lastTransitionTime"]!.GetValue<string>());
        Assert.Equal(Now, merged["listeners"]![1]!["conditions"]![0]!["lastTransitionTime"]!.GetValue<string>());
        Assert.Null(desired["listeners"]![0]!["conditions"]![0]!["lastTransitionTime"]);
    }

    [Fact]
    public void Merge_OfItsOwnResult_IsUnchanged_EvenLater()
    {
        var desired = Parse("""
            {"parents":[{"parentRef":{"name":"gw"},"conditions":[{"type":"Accepted","status":"True"},{"type":"ResolvedRefs","status":"False"}]}]}
            """);
        var current = Parse("""
            {"parents":[{"parentRef":{"name":"gw"},"controllerName":"other.io/x","conditions":[{"type":"Accepted","status":"True"}]}]}
            """);

        var first = StatusMerge.Merge(current, desired, "example.com/lb", Then);
        var second = StatusMerge.Merge(first, desired, "example.com/lb", Now);

        Assert.True(JsonNode.DeepEquals(first, second));
        Assert.Equal(["other.io/x", "example.com/lb"], first["parents"]!.AsArray().Select(p => p!["controllerName"]!.GetValue<string>()));
    }

    [Fact]
    public void Merge_OtherControllersEntries_AreNeverStamped()
    {
        var current = Parse("""
            {"parents":[{"parentRef":{"name":"gw"},"controllerName":"other.io/x","conditions":[{"type":"Accepted","status":"True"}]}]}
            """);
        var desired = Parse("""{"parents":[]}""");

        var merged = StatusMerge.Merge(current, desired, "example.com/lb", Now);

        Assert.True(JsonNode.DeepEquals(current, merged));
    }

    private static JsonObject Parse(string json) => JsonNode.Parse(json)!.AsObject();
}
