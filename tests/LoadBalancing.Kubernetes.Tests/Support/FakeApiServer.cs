using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Kubernetes.Tests.Support;

/// <summary>How the next watch (or list) request misbehaves.</summary>
internal enum Fault
{
    None,

    /// <summary>Send the headers, then close the connection.</summary>
    Drop,

    /// <summary>Send the headers, then nothing at all (no lines, no bookmarks) while the connection stays open.</summary>
    Hang,

    /// <summary>Answer a watch with an ERROR line carrying a 410 Expired Status.</summary>
    Expire,

    /// <summary>Answer 500.</summary>
    ServerError,

    /// <summary>Answer 429 with Retry-After.</summary>
    TooManyRequests,

    /// <summary>Answer 401.</summary>
    Unauthorized,
}

/// <summary>A request the fake server received.</summary>
internal sealed record ApiRequest(string Namespace, bool Watch, string? ResourceVersion, string? LabelSelector, bool Bookmarks, int? TimeoutSeconds, bool MetadataOnly = false);

/// <summary>
/// A fake Kubernetes API server on loopback (Kestrel) speaking the real wire format for EndpointSlices: lists with
/// <c>metadata.resourceVersion</c>, chunked watch streams of <c>{"type":…,"object":…}</c> lines from a resource
/// version, BOOKMARK lines, ERROR lines with a Status, and fault switches for the next requests.
/// </summary>
internal sealed class FakeApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Dictionary<string, JsonObject>> _slices = new(StringComparer.Ordinal);
    private readonly List<(string Namespace, long Version, string? Service, string Line)> _log = [];
    private readonly Queue<Fault> _watchFaults = new();
    private readonly Queue<Fault> _listFaults = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource _hangs = new();
    private CancellationTokenSource _dropWatches = new();
    private long _version = 100;
    private long _oldestWatchable;

    private FakeApiServer(WebApplication app) => _app = app;

    public string Url { get; private set; } = "";

    /// <summary>Every request, in arrival order.</summary>
    public Channel<ApiRequest> Requests { get; } = Channel.CreateUnbounded<ApiRequest>();

    /// <summary>Full lists served (not counting metadata-only lists, which are confirmations).</summary>
    public int ListCount { get; private set; }

    /// <summary>Metadata-only lists served: discovery's confirmations.</summary>
    public int ConfirmCount { get; private set; }

    /// <summary>While true, changes are stored but no watch hears of them: a server that silently drops events.</summary>
    public bool DropEvents { get; set; }

    /// <summary>While true, every request's connection is reset at once: an API server that cannot be reached.</summary>
    public bool Down { get; set; }

    public int WatchCount { get; private set; }

    /// <summary>A delay before every watch line (a slow server).</summary>
    public TimeSpan LineDelay { get; set; }

    public long Version
    {
        get
        {
            lock (_lock)
            {
                return _version;
            }
        }
    }

    public static async Task<FakeApiServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var server = new FakeApiServer(app);
        app.MapGet("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", server.HandleAsync);
        await app.StartAsync();
        server.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return server;
    }

    public void FailNextWatch(Fault fault)
    {
        lock (_lock)
        {
            _watchFaults.Enqueue(fault);
        }
    }

    public void FailNextList(Fault fault, int times = 1)
    {
        lock (_lock)
        {
            for (var i = 0; i < times; i++)
            {
                _listFaults.Enqueue(fault);
            }
        }
    }

    /// <summary>Ends every fault: no queued fault applies any more, and every hung request is released (its connection closed).</summary>
    public void ClearFaults()
    {
        CancellationTokenSource hangs;
        lock (_lock)
        {
            _watchFaults.Clear();
            _listFaults.Clear();
            hangs = _hangs;
            _hangs = new CancellationTokenSource();
        }

        hangs.Cancel();
        hangs.Dispose();
    }

    /// <summary>Watch faults still queued.</summary>
    public int QueuedWatchFaults
    {
        get
        {
            lock (_lock)
            {
                return _watchFaults.Count;
            }
        }
    }

    /// <summary>Creates or replaces a slice and tells watchers (ADDED or MODIFIED).</summary>
    public long Apply(string ns, JsonObject slice) => Change(ns, slice, silently: false);

    /// <summary>Changes a slice without any watch event: what a watch that missed events would not know.</summary>
    public long ApplySilently(string ns, JsonObject slice) => Change(ns, slice, silently: true);

    public long Delete(string ns, string name, bool silently = false)
    {
        lock (_lock)
        {
            if (!Namespace(ns).Remove(name, out var slice))
            {
                return _version;
            }

            var version = ++_version;
            slice["metadata"]!["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture);
            if (!silently && !DropEvents)
            {
                Append(ns, version, Event("DELETED", slice), ServiceOf(slice));
            }

            return version;
        }
    }

    /// <summary>Sends a BOOKMARK at a new resource version.</summary>
    public long Bookmark(string ns)
    {
        lock (_lock)
        {
            var version = ++_version;
            var bookmark = new JsonObject
            {
                ["kind"] = "EndpointSlice",
                ["apiVersion"] = "discovery.k8s.io/v1",
                ["metadata"] = new JsonObject { ["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture) },
            };
            Append(ns, version, Event("BOOKMARK", bookmark));
            return version;
        }
    }

    /// <summary>Sends an arbitrary line to watchers (for malformed input).</summary>
    public void SendRawLine(string ns, string line)
    {
        lock (_lock)
        {
            Append(ns, ++_version, line);
        }
    }

    /// <summary>Cuts every open watch connection (as a load balancer or API server restart would).</summary>
    public void DropActiveWatches()
    {
        CancellationTokenSource old;
        lock (_lock)
        {
            old = _dropWatches;
            _dropWatches = new CancellationTokenSource();
        }

        old.Cancel();
        old.Dispose();
    }

    /// <summary>Forgets history: watches from older versions get 410 Expired.</summary>
    public void Compact()
    {
        lock (_lock)
        {
            _oldestWatchable = _version;
            _log.Clear();
        }
    }

    private long Change(string ns, JsonObject slice, bool silently)
    {
        lock (_lock)
        {
            var name = slice["metadata"]!["name"]!.GetValue<string>();
            var copy = (JsonObject)slice.DeepClone();
            var version = ++_version;
            copy["metadata"]!["namespace"] = ns;
            copy["metadata"]!["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture);
            var existed = Namespace(ns).ContainsKey(name);
            Namespace(ns)[name] = copy;
            if (!silently && !DropEvents)
            {
                Append(ns, version, Event(existed ? "MODIFIED" : "ADDED", copy), ServiceOf(copy));
            }

            return version;
        }
    }

    private Dictionary<string, JsonObject> Namespace(string ns)
    {
        if (!_slices.TryGetValue(ns, out var slices))
        {
            _slices[ns] = slices = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        }

        return slices;
    }

    private void Append(string ns, long version, string line, string? service = null)
    {
        _log.Add((ns, version, service, line));
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }

    /// <summary>An item of a metadata-only list, as the API server sends it for <c>as=PartialObjectMetadataList</c>.</summary>
    private static JsonObject MetadataOf(JsonObject slice) => new()
    {
        ["apiVersion"] = "meta.k8s.io/v1",
        ["kind"] = "PartialObjectMetadata",
        ["metadata"] = slice["metadata"]!.DeepClone(),
    };

    private static string? ServiceOf(JsonObject slice) => slice["metadata"]?["labels"]?["kubernetes.io/service-name"]?.GetValue<string>();

    private static string Event(string type, JsonNode obj) => new JsonObject { ["type"] = type, ["object"] = obj.DeepClone() }.ToJsonString();

    private static string Status(int code, string reason, string message) => new JsonObject
    {
        ["type"] = "ERROR",
        ["object"] = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = message,
            ["reason"] = reason,
            ["code"] = code,
        },
    }.ToJsonString();

    private async Task HandleAsync(HttpContext context, string ns)
    {
        var query = context.Request.Query;
        var watch = query["watch"] == "true" || query["watch"] == "1";
        var request = new ApiRequest(
            ns,
            watch,
            query["resourceVersion"].FirstOrDefault(),
            query["labelSelector"].FirstOrDefault(),
            query["allowWatchBookmarks"] == "true",
            int.TryParse(query["timeoutSeconds"], CultureInfo.InvariantCulture, out var t) ? t : null,
            context.Request.Headers.Accept.ToString().Contains("as=PartialObjectMetadataList", StringComparison.Ordinal));
        if (Down)
        {
            Requests.Writer.TryWrite(request);
            context.Abort();
            return;
        }

        Fault fault;
        lock (_lock)
        {
            if (watch)
            {
                WatchCount++;
                fault = _watchFaults.TryDequeue(out var f) ? f : Fault.None;
            }
            else
            {
                if (request.MetadataOnly)
                {
                    ConfirmCount++;
                }
                else
                {
                    ListCount++;
                }

                fault = _listFaults.TryDequeue(out var f) ? f : Fault.None;
            }
        }

        Requests.Writer.TryWrite(request);
        var selector = Selector.Parse(request.LabelSelector);
        switch (fault)
        {
            case Fault.ServerError:
                context.Response.StatusCode = 500;
                await context.Response.WriteAsJsonAsync(new { kind = "Status", apiVersion = "v1", status = "Failure", message = "etcd is sad", code = 500 });
                return;
            case Fault.TooManyRequests:
                context.Response.StatusCode = 429;
                context.Response.Headers.RetryAfter = "1";
                await context.Response.WriteAsJsonAsync(new { kind = "Status", apiVersion = "v1", status = "Failure", message = "slow down", reason = "TooManyRequests", code = 429 });
                return;
            case Fault.Unauthorized:
                context.Response.StatusCode = 401;
                await context.Response.WriteAsJsonAsync(new { kind = "Status", apiVersion = "v1", status = "Failure", message = "Unauthorized", reason = "Unauthorized", code = 401 });
                return;
        }

        if (!watch)
        {
            if (fault == Fault.Hang)
            {
                await HangAsync(context);
                return;
            }

            string body;
            lock (_lock)
            {
                var items = new JsonArray([.. Namespace(ns).Values.Where(s => selector.Matches(s)).Select(s => request.MetadataOnly ? MetadataOf(s) : (JsonNode)s.DeepClone())]);
                body = new JsonObject
                {
                    ["apiVersion"] = request.MetadataOnly ? "meta.k8s.io/v1" : "discovery.k8s.io/v1",
                    ["kind"] = request.MetadataOnly ? "PartialObjectMetadataList" : "EndpointSliceList",
                    ["metadata"] = new JsonObject { ["resourceVersion"] = _version.ToString(CultureInfo.InvariantCulture) },
                    ["items"] = items,
                }.ToJsonString();
            }

            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(body);
            return;
        }

        context.Response.ContentType = "application/json";
        await context.Response.StartAsync();
        await context.Response.Body.FlushAsync();
        switch (fault)
        {
            case Fault.Drop:
                context.Abort();
                return;
            case Fault.Hang:
                await HangAsync(context);
                return;
            case Fault.Expire:
                await WriteLineAsync(context, Status(410, "Expired", "too old resource version"));
                return;
        }

        var from = long.TryParse(request.ResourceVersion, CultureInfo.InvariantCulture, out var v) ? v : 0;
        lock (_lock)
        {
            if (from < _oldestWatchable)
            {
                fault = Fault.Expire;
            }
        }

        if (fault == Fault.Expire)
        {
            await WriteLineAsync(context, Status(410, "Expired", $"too old resource version: {from} ({_oldestWatchable})"));
            return;
        }

        // Stream every event after the requested version, then wait for more, until the client leaves.
        var next = from;
        CancellationToken dropped;
        lock (_lock)
        {
            dropped = _dropWatches.Token;
        }

        using var registration = dropped.Register(context.Abort);
        var position = new WatchPosition(next);
        _watchPositions[position] = 0;
        try
        {
            while (!context.RequestAborted.IsCancellationRequested)
            {
                var lines = new List<string>();
                Task changed;
                lock (_lock)
                {
                    // Only what arrived since the last turn: scan back from the end of the log.
                    var start = _log.Count;
                    while (start > 0 && _log[start - 1].Version > next)
                    {
                        start--;
                    }

                    for (var i = start; i < _log.Count; i++)
                    {
                        var entry = _log[i];
                        if (entry.Namespace == ns && (entry.Service is null || selector.Matches(entry.Service)))
                        {
                            lines.Add(entry.Line);
                        }
                    }

                    next = Math.Max(next, _log.Count > 0 ? _log[^1].Version : next);
                    changed = _changed.Task;
                }

                foreach (var line in lines)
                {
                    if (LineDelay > TimeSpan.Zero)
                    {
                        await Task.Delay(LineDelay, context.RequestAborted);
                    }

                    await WriteLineAsync(context, line);
                }

                Volatile.Write(ref position.WrittenThrough, next);
                await changed.WaitAsync(context.RequestAborted);
            }
        }
        catch (OperationCanceledException)
        {
            // The client left.
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
            long latest;
            lock (_lock)
            {
                latest = _log.Count > 0 ? _log[^1].Version : 0;
            }

            return _watchPositions.Keys.All(p => Volatile.Read(ref p.WrittenThrough) >= latest);
        }
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<WatchPosition, byte> _watchPositions = new(ReferenceEqualityComparer.Instance);

    private sealed class WatchPosition(long start)
    {
        public long WrittenThrough = start;
    }

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

    /// <summary>Watch lines written to clients so far.</summary>
    public long LinesWritten => Interlocked.Read(ref _linesWritten);

    private long _linesWritten;

    private async Task WriteLineAsync(HttpContext context, string line)
    {
        Interlocked.Increment(ref _linesWritten);
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"), context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        // End every open stream (hung ones included) so shutdown does not wait for clients to leave.
        DropActiveWatches();
        CancellationTokenSource hangs;
        lock (_lock)
        {
            hangs = _hangs;
        }

        await hangs.CancelAsync();
        await _app.StopAsync();
        hangs.Dispose();
        await _app.DisposeAsync();
    }

    /// <summary>The two label-selector shapes discovery uses: <c>key</c> and <c>key in (a,b)</c>.</summary>
    private sealed record Selector(string? Key, HashSet<string>? Values)
    {
        public static Selector Parse(string? text)
        {
            if (string.IsNullOrEmpty(text))
            {
                return new Selector(null, null);
            }

            var at = text.IndexOf(" in (", StringComparison.Ordinal);
            return at < 0
                ? new Selector(text.Trim(), null)
                : new Selector(text[..at].Trim(), [.. text[(at + 5)..].TrimEnd(')').Split(',').Select(v => v.Trim())]);
        }

        public bool Matches(JsonObject slice) =>
            Key is null || (slice["metadata"]?["labels"]?[Key]?.GetValue<string>() is { } value && (Values is null || Values.Contains(value)));

        public bool Matches(string service) => Key is null || Values is null || Values.Contains(service);
    }
}
