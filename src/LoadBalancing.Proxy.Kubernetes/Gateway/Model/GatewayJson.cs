using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace LoadBalancing.Proxy.Kubernetes.Gateway.Model;

/// <summary>Reads Gateway API objects from the API server's JSON.</summary>
internal static class GatewayJson
{
    /// <summary>
    /// One object (a list item or a watch event's object) as <typeparamref name="T"/>, through source-generated
    /// metadata (<see cref="GatewayJsonContext"/>): the shipped host is NativeAOT, where reflection cannot build these
    /// types (their constructors are trimmed away), so KubernetesClient's reflection-based reader would fail on every
    /// object. Names are camelCase as the API writes them; <c>metadata</c> reads through KubernetesClient's own
    /// property names. Unknown fields are ignored (newer API versions add them); a field of the wrong type throws.
    /// </summary>
    /// <exception cref="JsonException">A field has the wrong type; the caller skips the object.</exception>
    public static T Read<T>(JsonElement element)
        where T : class
    {
        var info = GatewayJsonContext.Default.GetTypeInfo(typeof(T)) as JsonTypeInfo<T>
            ?? throw new InvalidOperationException($"{typeof(T).Name} is not one of the Gateway API types GatewayJsonContext reads.");
        try
        {
            return element.Deserialize(info) ?? throw new JsonException($"Expected a {typeof(T).Name} object, got null.");
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            // Callers handle one exception type.
            throw new JsonException($"Could not read a {typeof(T).Name}: {e.Message}", e);
        }
    }
}

/// <summary>Source-generated readers for the Gateway API objects the controller watches.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(GatewayClass))]
[JsonSerializable(typeof(Gateway))]
[JsonSerializable(typeof(HttpRoute))]
[JsonSerializable(typeof(GrpcRoute))]
[JsonSerializable(typeof(ReferenceGrant))]
internal sealed partial class GatewayJsonContext : JsonSerializerContext;
