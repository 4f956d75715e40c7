using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoadBalancing.Proxy.Kubernetes.Api;

/// <summary>
/// List and watch for any kind, sent through KubernetesClient's configured <see cref="HttpClient"/> and credentials
/// and read item by item: an item or a watch line that cannot be read is reported as such (with the object's name
/// when it has one) and everything else goes on. KubernetesClient's typed calls would fail a whole list for one
/// object with a wrong-typed field, and end a watch on a line they cannot read.
/// </summary>
internal sealed partial class ObjectApi(k8s.Kubernetes client)
{
    /// <summary>A consistent list of <paramref name="kind"/> in <paramref name="ns"/> (null: every namespace), optionally narrowed by a field selector.</summary>
    public async Task<ObjectList<T>> ListAsync<T>(ApiKind kind, string? ns, string? fieldSelector, Func<JsonElement, T> read, CancellationToken cancellationToken)
        where T : class
    {
        var url = fieldSelector is null ? kind.CollectionPath(ns) : $"{kind.CollectionPath(ns)}?fieldSelector={Uri.EscapeDataString(fieldSelector)}";
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(client.BaseUri, url));
        request.Headers.TryAddWithoutValidation("Accept", "application/json");
        using var response = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var document = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken).ConfigureAwait(false);
        var root = document.RootElement;
        var version = root.TryGetProperty("metadata", out var metadata) ? ReadString(metadata, "resourceVersion") : null;
        var items = new List<ObjectItem<T>>();
        if (root.TryGetProperty("items", out var array) && array.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in array.EnumerateArray())
            {
                items.Add(ReadItem(kind, item, read));
            }
        }

        return new ObjectList<T>(version, items);
    }

    /// <summary>Watches from <paramref name="resourceVersion"/>; yields each line, readable or not, until the server ends the stream.</summary>
    public async IAsyncEnumerable<ObjectEvent<T>> WatchAsync<T>(
        ApiKind kind, string? ns, string? fieldSelector, Func<JsonElement, T> read, string? resourceVersion, int timeoutSeconds,
        [EnumeratorCancellation] CancellationToken cancellationToken)
        where T : class
    {
        var url = new StringBuilder(kind.CollectionPath(ns))
            .Append("?watch=true&allowWatchBookmarks=true&timeoutSeconds=").Append(timeoutSeconds.ToString(CultureInfo.InvariantCulture));
        if (fieldSelector is not null)
        {
            url.Append("&fieldSelector=").Append(Uri.EscapeDataString(fieldSelector));
        }

        if (!string.IsNullOrEmpty(resourceVersion))
        {
            url.Append("&resourceVersion=").Append(Uri.EscapeDataString(resourceVersion));
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(client.BaseUri, url.ToString()));
        request.Headers.TryAddWithoutValidation("Accept", "application/json");
        using var response = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var reader = new StreamReader(body, Encoding.UTF8);
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.Length > 0)
            {
                yield return ReadLine(kind, line, read);
            }
        }
    }

    /// <summary>Sends with the client's credentials; a response that is not a success becomes an <see cref="ObjectApiException"/>.</summary>
    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await SendRawAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var text = await ReadTextAsync(response, cancellationToken).ConfigureAwait(false);
            throw new ObjectApiException(response.StatusCode, StatusMessage(ParseObject(text), response));
        }
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        if (client.Credentials is { } credentials)
        {
            await credentials.ProcessHttpRequestAsync(request, cancellationToken).ConfigureAwait(false);
        }

        return await client.HttpClient.SendAsync(request, completion, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<string> ReadTextAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            return "";
        }
    }

    private static JsonObject? ParseObject(string text)
    {
        try
        {
            return text.Length > 0 ? JsonNode.Parse(text) as JsonObject : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>An error answer's Status message, or the reason phrase when it carries none.</summary>
    private static string StatusMessage(JsonObject? status, HttpResponseMessage response) =>
        status?["message"] is JsonValue value && value.TryGetValue<string>(out var message) ? message : response.ReasonPhrase ?? "";

    private static ObjectEvent<T> ReadLine<T>(ApiKind kind, string line, Func<JsonElement, T> read)
        where T : class
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            return ObjectEvent<T>.Unreadable($"a {kind.Kind} watch line is not JSON ({e.Message})");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || ReadString(root, "type") is not { } type
                || !root.TryGetProperty("object", out var obj) || obj.ValueKind != JsonValueKind.Object)
            {
                return ObjectEvent<T>.Unreadable($"a {kind.Kind} watch line has no type or object");
            }

            switch (type)
            {
                case "BOOKMARK":
                    return new ObjectEvent<T>(ObjectEventKind.Bookmark, null, ReadVersion(obj), 0, null);
                case "ERROR":
                    var code = obj.TryGetProperty("code", out var c) && c.TryGetInt32(out var n) ? n : 0;
                    return new ObjectEvent<T>(ObjectEventKind.Error, null, null, code, ReadString(obj, "message") ?? ReadString(obj, "reason") ?? "");
                case "ADDED" or "MODIFIED" or "DELETED":
                    var item = ReadItem(kind, obj, read);
                    var what = type switch { "ADDED" => ObjectEventKind.Added, "MODIFIED" => ObjectEventKind.Modified, _ => ObjectEventKind.Deleted };
                    return new ObjectEvent<T>(what, item, item.ResourceVersion, 0, null);
                default:
                    return ObjectEvent<T>.Unreadable($"a {kind.Kind} watch line has the unknown type '{type}'");
            }
        }
    }

    private static ObjectItem<T> ReadItem<T>(ApiKind kind, JsonElement item, Func<JsonElement, T> read)
        where T : class
    {
        string? name = null, ns = null, version = null, stamp = null;
        if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object)
        {
            name = ReadString(metadata, "name");
            ns = ReadString(metadata, "namespace");
            version = ReadString(metadata, "resourceVersion");
            stamp = kind.StatusSubresource ? SpecStamp(metadata) : null;
        }

        var key = ObjectKey.Of(ns, name);
        if (name is null)
        {
            return new ObjectItem<T>(key, version, null, $"a {kind.Kind} has no metadata.name");
        }

        try
        {
            return new ObjectItem<T>(key, version, read(item), null, stamp);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or NotSupportedException or ArgumentException)
        {
            return new ObjectItem<T>(key, version, null, $"{kind.Kind} {key} could not be read: {e.Message}");
        }
    }

    /// <summary>What moves when anything but status changes: the generation (spec), labels and annotations.</summary>
    private static string? SpecStamp(JsonElement metadata) =>
        metadata.TryGetProperty("generation", out var generation) && generation.ValueKind == JsonValueKind.Number
            ? string.Concat(
                generation.GetRawText(), "|",
                metadata.TryGetProperty("labels", out var labels) ? labels.GetRawText() : "", "|",
                metadata.TryGetProperty("annotations", out var annotations) ? annotations.GetRawText() : "")
            : null;

    private static string? ReadVersion(JsonElement obj) =>
        obj.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object ? ReadString(metadata, "resourceVersion") : null;

    private static string? ReadString(JsonElement obj, string property) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>An object's identity: <c>namespace/name</c>, or just the name for cluster-scoped kinds.</summary>
internal readonly record struct ObjectKey(string? Namespace, string Name)
{
    public static ObjectKey Of(string? ns, string? name) => new(string.IsNullOrEmpty(ns) ? null : ns, name ?? "(no name)");

    public override string ToString() => Namespace is null ? Name : $"{Namespace}/{Name}";
}

/// <summary>
/// A listed or watched object: read (<see cref="Object"/>) or not (<see cref="Problem"/>). <see cref="SpecStamp"/>,
/// for kinds whose status is a subresource, changes with everything but the status.
/// </summary>
internal sealed record ObjectItem<T>(ObjectKey Key, string? ResourceVersion, T? Object, string? Problem, string? SpecStamp = null)
    where T : class;

/// <summary>A list: its resourceVersion and its items.</summary>
internal sealed record ObjectList<T>(string? ResourceVersion, IReadOnlyList<ObjectItem<T>> Items)
    where T : class;

internal enum ObjectEventKind
{
    Added,
    Modified,
    Deleted,
    Bookmark,
    Error,
    Unreadable,
}

/// <summary>One watch line.</summary>
internal sealed record ObjectEvent<T>(ObjectEventKind Kind, ObjectItem<T>? Item, string? ResourceVersion, int Code, string? Message)
    where T : class
{
    public static ObjectEvent<T> Unreadable(string message) => new(ObjectEventKind.Unreadable, null, null, 0, message);
}

/// <summary>The API server answered with an error status.</summary>
internal sealed class ObjectApiException(HttpStatusCode status, string message)
    : Exception($"The API server answered {(int)status} {status}: {message}")
{
    public HttpStatusCode Status { get; } = status;
}
