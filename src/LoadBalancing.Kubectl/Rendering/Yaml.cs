using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.Serialization;

namespace LoadBalancing.Kubectl.Rendering;

/// <summary>The JSON documents the commands build, written as YAML (<c>-o yaml</c>, as kubectl offers).</summary>
internal static class Yaml
{
    private static readonly ISerializer Serializer = new SerializerBuilder().Build();

    public static string Write(JsonNode node) => Serializer.Serialize(Plain(node));

    // YamlDotNet writes dictionaries, lists and scalars; JSON nodes become those, numbers and booleans kept as such.
    private static object? Plain(JsonNode? node) => node switch
    {
        JsonObject obj => obj.ToDictionary(p => p.Key, p => Plain(p.Value)),
        JsonArray array => array.Select(Plain).ToList(),
        JsonValue value => value.GetValueKind() switch
        {
            JsonValueKind.String => value.GetValue<string>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number => value.TryGetValue<long>(out var whole) ? whole : double.Parse(value.ToJsonString(), CultureInfo.InvariantCulture),
            _ => null,
        },
        _ => null,
    };
}
