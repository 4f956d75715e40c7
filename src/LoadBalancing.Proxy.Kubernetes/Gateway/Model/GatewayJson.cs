using System.Text.Json;
using k8s;

namespace LoadBalancing.Proxy.Kubernetes.Gateway.Model;

/// <summary>Reads Gateway API objects from the API server's JSON.</summary>
internal static class GatewayJson
{
    /// <summary>
    /// One object (a list item or a watch event's object) as <typeparamref name="T"/>, with KubernetesClient's
    /// serializer settings so <c>metadata</c> reads exactly as the client's own types do (camelCase names, RFC 3339
    /// times). Unknown fields are ignored (newer API versions add them); a field of the wrong type throws.
    /// </summary>
    /// <exception cref="JsonException">A field has the wrong type; the caller skips the object.</exception>
    public static T Read<T>(JsonElement element)
        where T : class
    {
        try
        {
            return KubernetesJson.Deserialize<T>(element) ?? throw new JsonException($"Expected a {typeof(T).Name} object, got null.");
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            // KubernetesClient's date converter throws FormatException; callers handle one exception type.
            throw new JsonException($"Could not read a {typeof(T).Name}: {e.Message}", e);
        }
    }
}
