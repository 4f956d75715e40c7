using System.Text.Json.Nodes;

namespace LoadBalancing.Kubernetes.Tests.Support;

/// <summary>The patch formats the fake API server applies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902).</summary>
internal static class ApiPatch
{
    public const string MergePatch = "application/merge-patch+json";
    public const string JsonPatch = "application/json-patch+json";

    /// <summary>RFC 7386: objects merge key by key, <c>null</c> removes, anything else (arrays included) replaces.</summary>
    public static JsonNode? Merge(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target is JsonObject targetObject ? (JsonObject)targetObject.DeepClone() : [];
        foreach (var (key, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(key);
            }
            else
            {
                var merged = Merge(result[key], value);
                result.Remove(key);
                result[key] = merged;
            }
        }

        return result;
    }

    /// <summary>RFC 6902 (add, remove, replace, test, copy, move); throws <see cref="InvalidOperationException"/> when an operation cannot apply.</summary>
    public static JsonNode Apply(JsonNode target, JsonArray operations)
    {
        var root = new JsonObject { ["doc"] = target.DeepClone() };
        foreach (var operation in operations)
        {
            var op = operation?["op"]?.GetValue<string>() ?? throw new InvalidOperationException("missing op");
            var path = operation["path"]?.GetValue<string>() ?? throw new InvalidOperationException("missing path");
            switch (op)
            {
                case "add":
                    Add(root, path, operation["value"]?.DeepClone());
                    break;
                case "remove":
                    Remove(root, path);
                    break;
                case "replace":
                    Remove(root, path);
                    Add(root, path, operation["value"]?.DeepClone());
                    break;
                case "test":
                    if (!JsonNode.DeepEquals(Find(root, path), operation["value"]))
                    {
                        throw new InvalidOperationException($"test failed at {path}");
                    }

                    break;
                case "copy":
                    Add(root, path, Find(root, From(operation))?.DeepClone());
                    break;
                case "move":
                    var from = From(operation);
                    var value = Find(root, from)?.DeepClone();
                    Remove(root, from);
                    Add(root, path, value);
                    break;
                default:
                    throw new InvalidOperationException($"unknown op {op}");
            }
        }

        return root["doc"]!.DeepClone();
    }

    private static string From(JsonNode operation) => operation["from"]?.GetValue<string>() ?? throw new InvalidOperationException("missing from");

    private static (JsonNode Parent, string Key) Parent(JsonObject root, string pointer)
    {
        var tokens = ("/doc" + pointer).Split('/')[1..].Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToArray();
        JsonNode node = root;
        foreach (var token in tokens[..^1])
        {
            node = node switch
            {
                JsonObject o when o[token] is { } child => child,
                JsonArray a when int.TryParse(token, out var i) && i >= 0 && i < a.Count && a[i] is { } item => item,
                _ => throw new InvalidOperationException($"no such path: {pointer}"),
            };
        }

        return (node, tokens[^1]);
    }

    private static JsonNode? Find(JsonObject root, string pointer)
    {
        var (parent, key) = Parent(root, pointer);
        return parent switch
        {
            JsonObject o when o.ContainsKey(key) => o[key],
            JsonArray a when int.TryParse(key, out var i) && i >= 0 && i < a.Count => a[i],
            _ => throw new InvalidOperationException($"no such path: {pointer}"),
        };
    }

    private static void Add(JsonObject root, string pointer, JsonNode? value)
    {
        var (parent, key) = Parent(root, pointer);
        switch (parent)
        {
            case JsonObject o:
                o[key] = value;
                break;
            case JsonArray a when key == "-":
                a.Add(value);
                break;
            case JsonArray a when int.TryParse(key, out var i) && i >= 0 && i <= a.Count:
                a.Insert(i, value);
                break;
            default:
                throw new InvalidOperationException($"no such path: {pointer}");
        }
    }

    private static void Remove(JsonObject root, string pointer)
    {
        var (parent, key) = Parent(root, pointer);
        switch (parent)
        {
            case JsonObject o when o.Remove(key):
                break;
            case JsonArray a when int.TryParse(key, out var i) && i >= 0 && i < a.Count:
                a.RemoveAt(i);
                break;
            default:
                throw new InvalidOperationException($"no such path: {pointer}");
        }
    }
}
