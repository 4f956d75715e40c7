using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using k8s;
using k8s.Models;

namespace LoadBalancing.Kubernetes.Watching;

/// <summary>
/// The two EndpointSlice requests discovery makes — list and watch — sent through KubernetesClient's configured
/// <see cref="HttpClient"/> and credentials, and read item by item. KubernetesClient's typed calls deserialize a
/// whole list at once (one item with a wrong-typed field fails the namespace's list) and end a watch on a line
/// they cannot read; here an unreadable item or line is reported as such and everything else goes on.
/// </summary>
internal sealed class SliceApi(k8s.Kubernetes client)
{
    // A metadata-only list (names, resource versions, labels): what a confirmation needs, at a fraction of the bytes.
    private const string MetadataOnly = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1beta1,application/json";

    /// <summary>
    /// A consistent list (no <c>resourceVersion</c>: the API server answers with the state as of now, from etcd or,
    /// from Kubernetes 1.31, from its watch cache once that is known to be current).
    /// </summary>
    public async Task<SliceList> ListAsync(string ns, string labelSelector, bool metadataOnly, CancellationToken cancellationToken)
    {
        var url = Path(ns) + "?labelSelector=" + Uri.EscapeDataString(labelSelector);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(client.BaseUri, url));
        request.Headers.TryAddWithoutValidation("Accept", metadataOnly ? MetadataOnly : "application/json");
        using var response = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var counting = new CountingStream(body);
        using var document = await JsonDocument.ParseAsync(counting, cancellationToken: cancellationToken).ConfigureAwait(false);
        var root = document.RootElement;
        var version = root.TryGetProperty("metadata", out var metadata) ? ReadString(metadata, "resourceVersion") : null;
        var items = new List<ListedSlice>();
        if (root.TryGetProperty("items", out var array) && array.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in array.EnumerateArray())
            {
                items.Add(ReadItem(item, full: !metadataOnly));
            }
        }

        return new SliceList(version, items, counting.BytesRead);
    }

    /// <summary>Watches from <paramref name="resourceVersion"/>; yields each line, readable or not, until the server ends the stream.</summary>
    /// <param name="ns">The namespace.</param>
    /// <param name="labelSelector">The label selector.</param>
    /// <param name="resourceVersion">Where to start.</param>
    /// <param name="timeoutSeconds">The server-side timeout asked for.</param>
    /// <param name="established">Called once the server has accepted the watch (status 200, headers read).</param>
    /// <param name="cancellationToken">Ends the watch.</param>
    public async IAsyncEnumerable<WatchLine> WatchAsync(
        string ns, string labelSelector, string? resourceVersion, int timeoutSeconds, Action established,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var url = new StringBuilder(Path(ns))
            .Append("?watch=true&allowWatchBookmarks=true&labelSelector=").Append(Uri.EscapeDataString(labelSelector))
            .Append("&timeoutSeconds=").Append(timeoutSeconds.ToString(CultureInfo.InvariantCulture));
        if (!string.IsNullOrEmpty(resourceVersion))
        {
            url.Append("&resourceVersion=").Append(Uri.EscapeDataString(resourceVersion));
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(client.BaseUri, url.ToString()));
        request.Headers.TryAddWithoutValidation("Accept", "application/json");
        using var response = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        established();
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var reader = new StreamReader(body, Encoding.UTF8);
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.Length > 0)
            {
                yield return ReadLine(line);
            }
        }
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (client.Credentials is { } credentials)
        {
            await credentials.ProcessHttpRequestAsync(request, cancellationToken).ConfigureAwait(false);
        }

        var response = await client.HttpClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var message = await ReadStatusMessageAsync(response, cancellationToken).ConfigureAwait(false);
            throw new ApiStatusException(response.StatusCode, message);
        }
    }

    private static async Task<string> ReadStatusMessageAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            using var status = JsonDocument.Parse(text);
            return ReadString(status.RootElement, "message") ?? response.ReasonPhrase ?? "";
        }
        catch (Exception e) when (e is JsonException or IOException or HttpRequestException)
        {
            return response.ReasonPhrase ?? "";
        }
    }

    private static WatchLine ReadLine(string line)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            return WatchLine.Unreadable($"a watch line is not JSON ({e.Message})");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || ReadString(root, "type") is not { } type
                || !root.TryGetProperty("object", out var obj) || obj.ValueKind != JsonValueKind.Object)
            {
                return WatchLine.Unreadable("a watch line has no type or object");
            }

            switch (type)
            {
                case "BOOKMARK":
                    return new WatchLine(WatchLineKind.Bookmark, null, ReadVersion(obj), 0, null);
                case "ERROR":
                    var code = obj.TryGetProperty("code", out var c) && c.TryGetInt32(out var n) ? n : 0;
                    return new WatchLine(WatchLineKind.Error, null, null, code, ReadString(obj, "message") ?? ReadString(obj, "reason") ?? "");
                case "ADDED" or "MODIFIED" or "DELETED":
                    var kind = type switch { "ADDED" => WatchLineKind.Added, "MODIFIED" => WatchLineKind.Modified, _ => WatchLineKind.Deleted };
                    var item = ReadItem(obj, full: true);
                    return new WatchLine(kind, item, item.ResourceVersion, 0, null);
                default:
                    return WatchLine.Unreadable($"a watch line has the unknown type '{type}'");
            }
        }
    }

    private static ListedSlice ReadItem(JsonElement item, bool full)
    {
        string? name = null;
        string? version = null;
        if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object)
        {
            name = ReadString(metadata, "name");
            version = ReadString(metadata, "resourceVersion");
        }

        if (!full)
        {
            return new ListedSlice(name, version, null, name is null ? "an item has no metadata.name" : null);
        }

        try
        {
            return new ListedSlice(name, version, KubernetesJson.Deserialize<V1EndpointSlice>(item), null);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or NotSupportedException)
        {
            return new ListedSlice(name, version, null, $"EndpointSlice '{name ?? "(no name)"}' could not be read: {e.Message}");
        }
    }

    private static string? ReadVersion(JsonElement obj) =>
        obj.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object ? ReadString(metadata, "resourceVersion") : null;

    private static string? ReadString(JsonElement obj, string property) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Path(string ns) => $"apis/discovery.k8s.io/v1/namespaces/{Uri.EscapeDataString(ns)}/endpointslices";

    /// <summary>Counts the bytes a response body carried (the cost of a confirmation, for the metrics).</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long BytesRead { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = inner.Read(buffer, offset, count);
            BytesRead += read;
            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            BytesRead += read;
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>A list's items, each read on its own, and the list's resource version.</summary>
internal sealed record SliceList(string? ResourceVersion, IReadOnlyList<ListedSlice> Items, long Bytes);

/// <summary>One listed or watched item: its name and version, and the object or why it could not be read.</summary>
internal sealed record ListedSlice(string? Name, string? ResourceVersion, V1EndpointSlice? Object, string? Error);

internal enum WatchLineKind
{
    Added,
    Modified,
    Deleted,
    Bookmark,
    Error,
    Unreadable,
}

/// <summary>One watch line as read: an event with its item, a bookmark, an error Status, or an unreadable line.</summary>
internal readonly record struct WatchLine(WatchLineKind Kind, ListedSlice? Item, string? ResourceVersion, int Code, string? Message)
{
    public static WatchLine Unreadable(string why) => new(WatchLineKind.Unreadable, null, null, 0, why);
}

/// <summary>The API server answered with an error status.</summary>
internal sealed class ApiStatusException(HttpStatusCode status, string message)
    : Exception($"HTTP {(int)status} {status}{(message.Length > 0 ? ": " + message : "")}")
{
    public HttpStatusCode Status { get; } = status;
}
