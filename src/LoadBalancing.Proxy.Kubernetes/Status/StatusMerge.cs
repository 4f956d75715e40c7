using System.Text.Json.Nodes;

namespace LoadBalancing.Proxy.Kubernetes.Status;

/// <summary>
/// Builds the status to write from the one the object has and the one the controller wants: the controller's own
/// part replaces what was there (for a route, only the <c>status.parents</c> entries under its <c>controllerName</c>),
/// and every condition keeps its <c>lastTransitionTime</c> unless its status changed. Pure: no I/O, no clock.
/// </summary>
internal static class StatusMerge
{
    /// <summary>RFC 3339 in UTC to the second, as the API server writes <c>metav1.Time</c>.</summary>
    public const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'";

    /// <summary>The merged status.</summary>
    /// <param name="current">The object's <c>status</c>, or null when it has none.</param>
    /// <param name="desired">The status the controller wants (left untouched).</param>
    /// <param name="parentsController">Our <c>controllerName</c> when <c>status.parents</c> is shared with other controllers.</param>
    /// <param name="now">The stamp for conditions that are new or changed status, in <see cref="TimeFormat"/>.</param>
    public static JsonObject Merge(JsonObject? current, JsonObject desired, string? parentsController, string now)
    {
        var ours = (JsonObject)desired.DeepClone();
        if (parentsController is not null && ours["parents"] is JsonArray ownParents)
        {
            foreach (var entry in ownParents)
            {
                if (entry is JsonObject parent && parent["controllerName"] is null)
                {
                    parent["controllerName"] = parentsController;
                }
            }
        }

        // Stamped before other controllers' entries join, so theirs are never touched.
        Stamp(ours, current, now);
        if (parentsController is null)
        {
            return ours;
        }

        var merged = current?.DeepClone() as JsonObject ?? [];
        foreach (var (key, value) in ours)
        {
            if (key != "parents")
            {
                merged[key] = value?.DeepClone();
            }
        }

        var parents = new JsonArray();
        if (current?["parents"] is JsonArray existing)
        {
            foreach (var entry in existing)
            {
                if (Text(entry?["controllerName"]) != parentsController)
                {
                    parents.Add(entry?.DeepClone());
                }
            }
        }

        if (ours["parents"] is JsonArray wanted)
        {
            foreach (var entry in wanted)
            {
                parents.Add(entry?.DeepClone());
            }
        }

        merged["parents"] = parents;
        return merged;
    }

    /// <summary>Walks <paramref name="node"/> beside its counterpart in the current status, stamping every <c>conditions</c> list found.</summary>
    private static void Stamp(JsonObject node, JsonObject? current, string now)
    {
        foreach (var (key, value) in node)
        {
            var old = current?[key];
            switch (value)
            {
                case JsonArray conditions when key == "conditions":
                    StampConditions(conditions, old as JsonArray, now);
                    break;
                case JsonObject child:
                    Stamp(child, old as JsonObject, now);
                    break;
                case JsonArray items:
                    for (var i = 0; i < items.Count; i++)
                    {
                        if (items[i] is JsonObject item)
                        {
                            Stamp(item, Counterpart(item, old as JsonArray, i), now);
                        }
                    }

                    break;
            }
        }
    }

    private static void StampConditions(JsonArray conditions, JsonArray? old, string now)
    {
        foreach (var node in conditions)
        {
            if (node is not JsonObject condition)
            {
                continue;
            }

            var type = Text(condition["type"]);
            var previous = old?.OfType<JsonObject>().FirstOrDefault(o => Text(o["type"]) == type);
            condition["lastTransitionTime"] = previous is not null
                && Text(previous["status"]) == Text(condition["status"])
                && Text(previous["lastTransitionTime"]) is { Length: > 0 } since
                    ? since
                    : now;
        }
    }

    /// <summary>
    /// The current list's entry that <paramref name="item"/> stands for: a route's parent by its <c>parentRef</c> and
    /// <c>controllerName</c>, a Gateway's listener by its <c>name</c>, anything else by position.
    /// </summary>
    private static JsonObject? Counterpart(JsonObject item, JsonArray? old, int index)
    {
        if (old is null)
        {
            return null;
        }

        if (item["parentRef"] is { } parentRef)
        {
            var controller = Text(item["controllerName"]);
            return old.OfType<JsonObject>().FirstOrDefault(o => JsonNode.DeepEquals(o["parentRef"], parentRef) && Text(o["controllerName"]) == controller);
        }

        if (Text(item["name"]) is { } name)
        {
            return old.OfType<JsonObject>().FirstOrDefault(o => Text(o["name"]) == name);
        }

        return index < old.Count ? old[index] as JsonObject : null;
    }

    private static string? Text(JsonNode? node) => node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;
}
