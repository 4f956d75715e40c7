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

    /// <summary>Send the headers, then close the connection (a request that is not a watch: close it unanswered, a write not applied).</summary>
    Drop,

    /// <summary>Send the headers, then nothing at all (no lines, no bookmarks) while the connection stays open.</summary>
    Hang,

    /// <summary>Answer a watch with an ERROR line carrying a 410 Expired Status (any other request: a 410 Status).</summary>
    Expire,

    /// <summary>Answer 500.</summary>
    ServerError,

    /// <summary>Answer 429 with Retry-After.</summary>
    TooManyRequests,

    /// <summary>Answer 401.</summary>
    Unauthorized,

    /// <summary>Answer 404, as for a kind whose CustomResourceDefinition is not installed.</summary>
    NotFound,

    /// <summary>Answer 403, as for a kind the client's RBAC role does not grant.</summary>
    Forbidden,
}

/// <summary>
/// A request the fake server received. <see cref="Namespace"/> is empty for a cluster-scoped kind or an all-namespaces
/// collection; <see cref="Resource"/> is null only for paths no kind serves.
/// </summary>
internal sealed record ApiRequest(
    string Namespace, bool Watch, string? ResourceVersion, string? LabelSelector, bool Bookmarks, int? TimeoutSeconds, bool MetadataOnly = false,
    ApiResource? Resource = null, ApiVerb Verb = ApiVerb.List, string? Name = null, string? Subresource = null);

/// <summary>
/// A fake Kubernetes API server on loopback (Kestrel) speaking the real wire format for the kinds in
/// <see cref="ApiResource.All"/> (EndpointSlices, Services, Ingresses, IngressClasses, the Gateway API kinds, Leases):
/// lists with <c>metadata.resourceVersion</c> and label/field selectors, chunked watch streams of
/// <c>{"type":…,"object":…}</c> lines from a resource version, BOOKMARK lines, ERROR lines with a Status, GET, POST,
/// PUT and PATCH (objects and their <c>/status</c>) with resource-version preconditions, DELETE, ONE resource version
/// counter across all kinds, and fault switches for the next requests. The HTTP side is in FakeApiServer.Http.cs, the
/// objects in <see cref="ApiStore"/>.
/// </summary>
internal sealed partial class FakeApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ApiStore _store = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<(ApiResource, ApiVerb), Queue<Fault>> _faults = [];
    private readonly Dictionary<(ApiResource, ApiVerb), int> _counts = [];
    private CancellationTokenSource _hangs = new();
    private CancellationTokenSource _dropWatches = new();
    private long _linesWritten;

    private FakeApiServer(WebApplication app) => _app = app;

    public string Url { get; private set; } = "";

    /// <summary>Every request, in arrival order.</summary>
    public Channel<ApiRequest> Requests { get; } = Channel.CreateUnbounded<ApiRequest>();

    /// <summary>Full EndpointSlice lists served (not counting metadata-only lists, which are confirmations).</summary>
    public int ListCount { get; private set; }

    /// <summary>Metadata-only EndpointSlice lists served: discovery's confirmations.</summary>
    public int ConfirmCount { get; private set; }

    /// <summary>EndpointSlice watches asked for.</summary>
    public int WatchCount { get; private set; }

    /// <summary>While true, changes (of every kind) are stored but no watch hears of them: a server that silently drops events.</summary>
    public bool DropEvents
    {
        get => _store.DropEvents;
        set => _store.DropEvents = value;
    }

    /// <summary>While true, every request's connection is reset at once: an API server that cannot be reached.</summary>
    public bool Down { get; set; }

    /// <summary>A delay before every watch line (a slow server).</summary>
    public TimeSpan LineDelay { get; set; }

    /// <summary>The newest resource version, across all kinds.</summary>
    public long Version => _store.Version;

    /// <summary>Watch lines written to clients so far (all kinds).</summary>
    public long LinesWritten => Interlocked.Read(ref _linesWritten);

    public static async Task<FakeApiServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var server = new FakeApiServer(app);
        app.Run(server.DispatchAsync);
        await app.StartAsync();
        server.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return server;
    }

    // ---- Faults ----

    /// <summary>The next EndpointSlice watch misbehaves.</summary>
    public void FailNextWatch(Fault fault) => FailNext(ApiResource.EndpointSlices, ApiVerb.Watch, fault);

    /// <summary>The next EndpointSlice lists (metadata-only ones included) misbehave.</summary>
    public void FailNextList(Fault fault, int times = 1) => FailNext(ApiResource.EndpointSlices, ApiVerb.List, fault, times);

    /// <summary>
    /// The next <paramref name="times"/> requests of <paramref name="verb"/> on <paramref name="resource"/> misbehave.
    /// Before any answer: ServerError, TooManyRequests, Unauthorized; then Drop (closes the connection; a write is not
    /// applied), Hang (until <see cref="ClearFaults"/>), Expire (410: an ERROR line for a watch, a Status otherwise).
    /// </summary>
    public void FailNext(ApiResource resource, ApiVerb verb, Fault fault, int times = 1)
    {
        lock (_lock)
        {
            if (!_faults.TryGetValue((resource, verb), out var queue))
            {
                _faults[(resource, verb)] = queue = new Queue<Fault>();
            }

            for (var i = 0; i < times; i++)
            {
                queue.Enqueue(fault);
            }
        }
    }

    /// <summary>Ends every fault: no queued fault applies any more, and every hung request is released (its connection closed).</summary>
    public void ClearFaults()
    {
        CancellationTokenSource hangs;
        lock (_lock)
        {
            _faults.Clear();
            hangs = _hangs;
            _hangs = new CancellationTokenSource();
        }

        hangs.Cancel();
        hangs.Dispose();
    }

    /// <summary>EndpointSlice watch faults still queued.</summary>
    public int QueuedWatchFaults
    {
        get
        {
            lock (_lock)
            {
                return _faults.TryGetValue((ApiResource.EndpointSlices, ApiVerb.Watch), out var queue) ? queue.Count : 0;
            }
        }
    }

    /// <summary>Requests of <paramref name="verb"/> on <paramref name="resource"/> so far (refused and failed ones included).</summary>
    public int RequestCount(ApiResource resource, ApiVerb verb)
    {
        lock (_lock)
        {
            return _counts.GetValueOrDefault((resource, verb));
        }
    }

    // ---- EndpointSlices (discovery's tests) ----

    /// <summary>Creates or replaces a slice and tells watchers (ADDED or MODIFIED).</summary>
    public long Apply(string ns, JsonObject slice) => _store.Apply(ApiResource.EndpointSlices, ns, slice, silently: false);

    /// <summary>Changes a slice without any watch event: what a watch that missed events would not know.</summary>
    public long ApplySilently(string ns, JsonObject slice) => _store.Apply(ApiResource.EndpointSlices, ns, slice, silently: true);

    public long Delete(string ns, string name, bool silently = false) => _store.Delete(ApiResource.EndpointSlices, ns, name, silently);

    /// <summary>Sends a BOOKMARK at a new resource version to the slice watches of <paramref name="ns"/>.</summary>
    public long Bookmark(string ns) => _store.Bookmark(ApiResource.EndpointSlices, ns);

    /// <summary>Sends an arbitrary line to the slice watches of <paramref name="ns"/> (for malformed input).</summary>
    public void SendRawLine(string ns, string line) => _store.RawLine(ApiResource.EndpointSlices, ns, line);

    // ---- Every kind ----

    /// <summary>
    /// Creates or replaces an object of any kind, as another client would (no precondition), and tells watchers. The
    /// namespace is the object's <c>metadata.namespace</c> (<c>default</c> when absent) for a namespaced kind. A kind with
    /// a status subresource keeps its stored status when <paramref name="obj"/> has none. Always a new resource version.
    /// </summary>
    public long Apply(ApiResource resource, JsonObject obj, bool silently = false) =>
        _store.Apply(resource, NamespaceOf(resource, obj), obj, silently);

    public long Delete(ApiResource resource, string ns, string name, bool silently = false) => _store.Delete(resource, ns, name, silently);

    /// <summary>A copy of the stored object, or null.</summary>
    public JsonObject? Get(ApiResource resource, string ns, string name) => _store.Find(resource, ns, name);

    /// <summary>Sends a BOOKMARK to the watches of <paramref name="resource"/> in <paramref name="ns"/> (all, when empty) that asked for bookmarks.</summary>
    public long Bookmark(ApiResource resource, string ns = "") => _store.Bookmark(resource, ns);

    /// <summary>Waits until the stored object satisfies <paramref name="condition"/> (null: absent) and returns a copy of it.</summary>
    public async Task<JsonObject?> WaitForAsync(ApiResource resource, string ns, string name, Func<JsonObject?, bool> condition, CancellationToken cancellationToken)
    {
        while (true)
        {
            var changed = _store.Changed;
            var obj = _store.Find(resource, ns, name);
            if (condition(obj))
            {
                return obj;
            }

            await changed.WaitAsync(cancellationToken);
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

    /// <summary>Forgets history (every kind): watches from older versions get 410 Expired.</summary>
    public void Compact() => _store.Compact();

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

    private static string NamespaceOf(ApiResource resource, JsonObject obj) =>
        resource.Namespaced ? obj["metadata"]?["namespace"]?.GetValue<string>() ?? "default" : "";
}
