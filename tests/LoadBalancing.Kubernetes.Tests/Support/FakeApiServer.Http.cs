using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Kubernetes.Tests.Support;

/// <summary>The HTTP side of the fake API server: one handler reads the path, applies faults, and answers from the store.</summary>
internal sealed partial class FakeApiServer
{
    private async Task DispatchAsync(HttpContext context)
    {
        var http = context.Request;
        if (PodProxyPath().Match(http.Path.Value ?? "") is { Success: true } proxy)
        {
            await ProxyToPodAsync(context, proxy.Groups["ns"].Value, proxy.Groups["pod"].Value, proxy.Groups["port"].Value, proxy.Groups["path"].Value);
            return;
        }

        if (!ApiResource.TryParsePath(http.Path.Value ?? "", out var resource, out var ns, out var name, out var subresource))
        {
            await WriteAsync(context, ApiStore.Status(404, "NotFound", "the server could not find the requested resource"));
            return;
        }

        var query = http.Query;
        var watch = query["watch"] == "true" || query["watch"] == "1";
        ApiVerb? verb = (http.Method, name) switch
        {
            ("GET", null) => watch ? ApiVerb.Watch : ApiVerb.List,
            ("GET", _) => ApiVerb.Get,
            ("POST", null) => ApiVerb.Create,
            ("PUT", not null) => ApiVerb.Update,
            ("PATCH", not null) => ApiVerb.Patch,
            ("DELETE", not null) => ApiVerb.Delete,
            _ => null,
        };
        if (verb is null)
        {
            await WriteAsync(context, ApiStore.Status(405, "MethodNotAllowed", $"the server does not allow this method on the requested resource"));
            return;
        }

        if (subresource is not null && (subresource != "status" || !resource.HasStatus || verb is not (ApiVerb.Get or ApiVerb.Update or ApiVerb.Patch)))
        {
            await WriteAsync(context, ApiStore.Status(404, "NotFound", "the server could not find the requested resource"));
            return;
        }

        var request = new ApiRequest(
            ns,
            watch,
            query["resourceVersion"].FirstOrDefault(),
            query["labelSelector"].FirstOrDefault(),
            query["allowWatchBookmarks"] == "true",
            int.TryParse(query["timeoutSeconds"], CultureInfo.InvariantCulture, out var t) ? t : null,
            http.Headers.Accept.ToString().Contains("as=PartialObjectMetadata", StringComparison.Ordinal),
            resource,
            verb.Value,
            name,
            subresource);
        // Taken before the request is visible in Requests: a DropActiveWatches after a test has seen the watch cuts it.
        CancellationToken dropped;
        lock (_lock)
        {
            dropped = _dropWatches.Token;
        }

        if (Down)
        {
            Requests.Writer.TryWrite(request);
            context.Abort();
            return;
        }

        var fault = Take(request);
        Requests.Writer.TryWrite(request);
        switch (fault)
        {
            case Fault.ServerError:
                await WriteAsync(context, ApiStore.Status(500, "InternalError", "etcd is sad"));
                return;
            case Fault.TooManyRequests:
                context.Response.Headers.RetryAfter = "1";
                await WriteAsync(context, ApiStore.Status(429, "TooManyRequests", "slow down"));
                return;
            case Fault.Unauthorized:
                await WriteAsync(context, ApiStore.Status(401, "Unauthorized", "Unauthorized"));
                return;
            case Fault.NotFound:
                await WriteAsync(context, ApiStore.Status(404, "NotFound", "the server could not find the requested resource"));
                return;
            case Fault.Forbidden:
                await WriteAsync(context, ApiStore.Status(403, "Forbidden", $"{request.Resource?.Plural} is forbidden: the service account cannot list it"));
                return;
        }

        var selector = ApiSelector.TryParse(request.LabelSelector, query["fieldSelector"].FirstOrDefault(), out var selectorError);
        if (selector is null)
        {
            await WriteAsync(context, ApiStore.Status(400, "BadRequest", selectorError!));
            return;
        }

        if (request.Verb == ApiVerb.Watch)
        {
            var filter = new WatchFilter(resource, ns, selector, request.Bookmarks, request.MetadataOnly);
            await WatchAsync(context, request, filter, query["sendInitialEvents"] == "true", fault, dropped);
            return;
        }

        switch (fault)
        {
            case Fault.Hang:
                await HangAsync(context);
                return;
            case Fault.Drop:
                context.Abort();
                return;
            case Fault.Expire:
                await WriteAsync(context, ApiStore.Status(410, "Expired", "The provided continue parameter is too old to display a consistent list result."));
                return;
        }

        var result = request.Verb switch
        {
            ApiVerb.List => ListResult(request, selector),
            ApiVerb.Get => Metadata(_store.Read(resource, ns, name!), request.MetadataOnly),
            ApiVerb.Create => await ReadBodyAsync(context) is { } body ? _store.Create(resource, ns, body) : BadBody(),
            ApiVerb.Update => await ReadBodyAsync(context) is { } body ? _store.Update(resource, ns, name!, body, subresource is not null) : BadBody(),
            ApiVerb.Patch => await PatchAsync(context, resource, ns, name!, subresource is not null),
            _ => _store.Remove(resource, ns, name!),
        };
        await WriteAsync(context, result);
    }

    /// <summary>
    /// The pod proxy subresource, <c>GET /api/v1/namespaces/{ns}/pods/{name}:{port}/proxy/{path}</c>: forwarded to
    /// <c>http://{status.podIP}:{port}/{path}</c> as the real API server does (pod IPs are loopback addresses in tests).
    /// </summary>
    private async Task ProxyToPodAsync(HttpContext context, string ns, string name, string port, string path)
    {
        if (context.Request.Method != "GET")
        {
            await WriteAsync(context, ApiStore.Status(405, "MethodNotAllowed", "the fake serves only GET through the pod proxy"));
            return;
        }

        if (_store.Find(ApiResource.Pods, ns, name) is not { } pod)
        {
            await WriteAsync(context, ApiStore.Status(404, "NotFound", $"pods \"{name}\" not found"));
            return;
        }

        if (pod["status"]?["podIP"]?.GetValue<string>() is not { Length: > 0 } ip)
        {
            await WriteAsync(context, ApiStore.Status(503, "ServiceUnavailable", $"pod {name} has no IP address"));
            return;
        }

        var target = $"http://{ip}:{port}{(path.Length == 0 ? "/" : path)}{context.Request.QueryString}";
        try
        {
            using var response = await ProxyClient.GetAsync(target, context.RequestAborted);
            context.Response.StatusCode = (int)response.StatusCode;
            context.Response.ContentType = response.Content.Headers.ContentType?.ToString();
            await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
        }
        catch (HttpRequestException e)
        {
            await WriteAsync(context, ApiStore.Status(503, "ServiceUnavailable", $"error trying to reach service: {e.Message}"));
        }
    }

    private static readonly HttpClient ProxyClient = new() { Timeout = TimeSpan.FromSeconds(10) };

    [System.Text.RegularExpressions.GeneratedRegex(@"^/api/v1/namespaces/(?<ns>[^/]+)/pods/(?<pod>[^/:]+):(?<port>\d+)/proxy(?<path>/.*)?$")]
    private static partial System.Text.RegularExpressions.Regex PodProxyPath();

    /// <summary>Counts the request and takes its fault, if one is queued.</summary>
    private Fault Take(ApiRequest request)
    {
        var key = (request.Resource!, request.Verb);
        lock (_lock)
        {
            _counts[key] = _counts.GetValueOrDefault(key) + 1;
            if (request.Resource == ApiResource.EndpointSlices)
            {
                if (request.Verb == ApiVerb.Watch)
                {
                    WatchCount++;
                }
                else if (request.Verb == ApiVerb.List && request.MetadataOnly)
                {
                    ConfirmCount++;
                }
                else if (request.Verb == ApiVerb.List)
                {
                    ListCount++;
                }
            }

            return _faults.TryGetValue(key, out var queue) && queue.TryDequeue(out var fault) ? fault : Fault.None;
        }
    }

    private StoreResult ListResult(ApiRequest request, ApiSelector selector)
    {
        var (items, version) = _store.List(request.Resource!, request.Namespace, selector);
        if (!request.Resource!.Custom)
        {
            // Items of a built-in kind's list carry no apiVersion or kind (a custom resource's do).
            foreach (var item in items)
            {
                item.Remove("apiVersion");
                item.Remove("kind");
            }
        }

        return new StoreResult(200, new JsonObject
        {
            ["apiVersion"] = request.MetadataOnly ? "meta.k8s.io/v1" : request.Resource!.ApiVersion,
            ["kind"] = request.MetadataOnly ? "PartialObjectMetadataList" : request.Resource!.Kind + "List",
            ["metadata"] = new JsonObject { ["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture) },
            ["items"] = new JsonArray([.. items.Select(i => (JsonNode)(request.MetadataOnly ? ApiStore.MetadataOf(i) : i))]),
        });
    }

    private static StoreResult Metadata(StoreResult result, bool metadataOnly) =>
        metadataOnly && result.Code == 200 ? result with { Body = ApiStore.MetadataOf(result.Body) } : result;

    private static StoreResult BadBody() => ApiStore.Status(400, "BadRequest", "the request body is not a JSON object");

    private static async Task<JsonObject?> ReadBodyAsync(HttpContext context)
    {
        try
        {
            return await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Merge patch and JSON patch; a strategic merge patch is read as a merge patch for built-in kinds (lists replace
    /// rather than merge by key) and refused (415) for custom resources, as the real server refuses it; server-side apply is refused.
    /// </summary>
    private async Task<StoreResult> PatchAsync(HttpContext context, ApiResource resource, string ns, string name, bool status)
    {
        var type = context.Request.ContentType?.Split(';')[0].Trim() ?? "";
        JsonNode? patch;
        try
        {
            patch = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        }
        catch (JsonException)
        {
            return BadBody();
        }

        return type switch
        {
            ApiPatch.MergePatch => _store.Patch(resource, ns, name, o => ApiPatch.Merge(o, patch), status),
            "application/strategic-merge-patch+json" when !resource.Custom => _store.Patch(resource, ns, name, o => ApiPatch.Merge(o, patch), status),
            ApiPatch.JsonPatch when patch is JsonArray operations => _store.Patch(resource, ns, name, o => ApiPatch.Apply(o, operations), status),
            ApiPatch.JsonPatch => BadBody(),
            _ => ApiStore.Status(415, "UnsupportedMediaType", $"the body of the request was in an unknown format - accepted media types include: {ApiPatch.JsonPatch}, {ApiPatch.MergePatch}"),
        };
    }

    private async Task WatchAsync(HttpContext context, ApiRequest request, WatchFilter filter, bool sendInitialEvents, Fault fault, CancellationToken dropped)
    {
        using var registration = dropped.Register(context.Abort);
        context.Response.ContentType = "application/json";
        await context.Response.StartAsync(CancellationToken.None);
        await context.Response.Body.FlushAsync(CancellationToken.None);
        switch (fault)
        {
            case Fault.Drop:
                context.Abort();
                return;
            case Fault.Hang:
                await HangAsync(context);
                return;
            case Fault.Expire:
                await WriteLineAsync(context, ErrorLine(ApiStore.Status(410, "Expired", "too old resource version")));
                return;
        }

        if (_store.BeginWatch(filter, request.ResourceVersion, sendInitialEvents) is not var (next, initial))
        {
            await WriteLineAsync(context, ErrorLine(ApiStore.Status(410, "Expired", $"too old resource version: {request.ResourceVersion} ({_store.OldestWatchable})")));
            return;
        }

        // Stream every event after the version, then wait for more, until the client leaves, the watch is dropped, or timeoutSeconds pass.
        using var timeout = new CancellationTokenSource();
        if (request.TimeoutSeconds is > 0 and var seconds)
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(seconds));
        }

        using var ends = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, timeout.Token);
        var position = new WatchPosition(0);
        _watchPositions[position] = 0;
        try
        {
            var lines = initial;
            while (!ends.IsCancellationRequested)
            {
                foreach (var line in lines)
                {
                    if (LineDelay > TimeSpan.Zero)
                    {
                        await Task.Delay(LineDelay, ends.Token);
                    }

                    await WriteLineAsync(context, line);
                }

                (lines, next, var changed) = _store.ReadSince(filter, next);
                if (lines.Count == 0)
                {
                    Volatile.Write(ref position.WrittenThrough, next);
                    await changed.WaitAsync(ends.Token);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The client left, or the server's timeout ended the watch (the response then ends cleanly).
        }
        catch (IOException)
        {
            // The client left.
        }
        finally
        {
            _watchPositions.TryRemove(position, out _);
        }
    }

    /// <summary>
    /// Whether every open watch has written every change made so far: its lines are on the wire, not waiting for the
    /// watch's turn (watches write asynchronously, after the change that wakes them).
    /// </summary>
    public bool WatchesCaughtUp
    {
        get
        {
            var latest = _store.LatestLogged;
            return _watchPositions.Keys.All(p => Volatile.Read(ref p.WrittenThrough) >= latest);
        }
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<WatchPosition, byte> _watchPositions = new(ReferenceEqualityComparer.Instance);

    private sealed class WatchPosition(long start)
    {
        public long WrittenThrough = start;
    }

    private static string ErrorLine(StoreResult status) => new JsonObject { ["type"] = "ERROR", ["object"] = status.Body }.ToJsonString();

    private async Task HangAsync(HttpContext context)
    {
        CancellationToken released;
        lock (_lock)
        {
            released = _hangs.Token;
        }

        using var both = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, released);
        await Task.Delay(Timeout.Infinite, both.Token).ContinueWith(_ => { }, TaskScheduler.Default);
        context.Abort();
    }

    private async Task WriteLineAsync(HttpContext context, string line)
    {
        Interlocked.Increment(ref _linesWritten);
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"), context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    private static async Task WriteAsync(HttpContext context, StoreResult result)
    {
        context.Response.StatusCode = result.Code;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(result.Body.ToJsonString());
    }
}
