using System.Globalization;
using System.Text.Json.Nodes;

namespace LoadBalancing.Kubernetes.Tests.Support;

/// <summary>The answer to a request: a status code and the object (or a <c>Status</c>) to send.</summary>
internal sealed record StoreResult(int Code, JsonObject Body);

/// <summary>What one watch asks for: the kind, the namespace (empty for all namespaces or a cluster-scoped kind), the selectors, bookmarks, and metadata-only objects.</summary>
internal sealed record WatchFilter(ApiResource Resource, string Namespace, ApiSelector Selector, bool Bookmarks, bool MetadataOnly);

/// <summary>
/// The objects of every kind the fake API server serves, keyed by (resource, namespace), with ONE resource version
/// counter across all of them (as etcd has) and one event log that watches read from. Every method takes the lock:
/// callers never see an object the store still holds (they get copies).
/// </summary>
internal sealed class ApiStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(ApiResource Resource, string Namespace), SortedDictionary<string, JsonObject>> _objects = [];
    private readonly List<LogEntry> _log = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _version = 100;
    private long _oldestWatchable;

    /// <summary>While true, changes are stored but not logged: no watch hears of them.</summary>
    public bool DropEvents { get; set; }

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

    /// <summary>Completes at the next change of anything (stored object or log).</summary>
    public Task Changed
    {
        get
        {
            lock (_lock)
            {
                return _changed.Task;
            }
        }
    }

    // ---- Test side: changes as another client (or the cluster) would make them, without preconditions ----

    /// <summary>Creates or replaces an object. A kind with a status subresource keeps its stored status when <paramref name="obj"/> has none.</summary>
    public long Apply(ApiResource resource, string ns, JsonObject obj, bool silently)
    {
        lock (_lock)
        {
            var name = obj["metadata"]?["name"]?.GetValue<string>() ?? throw new ArgumentException("metadata.name is required", nameof(obj));
            var bucket = Bucket(resource, ns);
            bucket.TryGetValue(name, out var old);
            var version = ++_version;
            var stored = Normalize(resource, ns, obj, old, version);
            if (old is not null && resource.HasStatus && obj["status"] is null && old["status"] is { } status)
            {
                stored["status"] = status.DeepClone();
            }

            bucket[name] = stored;
            Log(resource, ns, version, old is null ? "ADDED" : "MODIFIED", old, stored, silently);
            return version;
        }
    }

    public long Delete(ApiResource resource, string ns, string name, bool silently)
    {
        lock (_lock)
        {
            return DeleteLocked(resource, ns, name, silently)?.Version ?? _version;
        }
    }

    /// <summary>A BOOKMARK at a new resource version, to watches of this kind in <paramref name="ns"/> (or all, when empty) that asked for bookmarks.</summary>
    public long Bookmark(ApiResource resource, string ns)
    {
        lock (_lock)
        {
            var version = ++_version;
            Append(new LogEntry(resource, ns, version, "BOOKMARK", null, null, null));
            return version;
        }
    }

    /// <summary>An arbitrary line to every watch of this kind in <paramref name="ns"/> (or all, when empty).</summary>
    public void RawLine(ApiResource resource, string ns, string line)
    {
        lock (_lock)
        {
            Append(new LogEntry(resource, ns, ++_version, "RAW", null, null, line));
        }
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

    public JsonObject? Find(ApiResource resource, string ns, string name)
    {
        lock (_lock)
        {
            return Bucket(resource, ns).TryGetValue(name, out var obj) ? (JsonObject)obj.DeepClone() : null;
        }
    }

    // ---- Client side: the API server's semantics ----

    /// <summary>The matching objects (sorted by namespace, then name, as etcd keys are) and the list's resource version.</summary>
    public (List<JsonObject> Items, long Version) List(ApiResource resource, string ns, ApiSelector selector)
    {
        lock (_lock)
        {
            return ([.. Current(resource, ns, selector).Select(o => (JsonObject)o.DeepClone())], _version);
        }
    }

    public StoreResult Read(ApiResource resource, string ns, string name)
    {
        lock (_lock)
        {
            return Bucket(resource, ns).TryGetValue(name, out var obj) ? new StoreResult(200, (JsonObject)obj.DeepClone()) : NotFound(resource, name);
        }
    }

    /// <summary>POST: 409 AlreadyExists when present; <c>generateName</c> honoured; status dropped for kinds with a status subresource.</summary>
    public StoreResult Create(ApiResource resource, string ns, JsonObject body)
    {
        lock (_lock)
        {
            var metadata = body["metadata"] as JsonObject;
            if (BadNamespace(resource, ns, metadata) is { } bad)
            {
                return bad;
            }

            var name = metadata?["name"]?.GetValue<string>();
            if (string.IsNullOrEmpty(name) && metadata?["generateName"]?.GetValue<string>() is { Length: > 0 } prefix)
            {
                name = prefix + Guid.NewGuid().ToString("N")[..5];
            }

            if (string.IsNullOrEmpty(name))
            {
                return Status(422, "Invalid", $"{resource.Kind} \"\" is invalid: metadata.name: Required value: name or generateName is required", resource, "");
            }

            var bucket = Bucket(resource, ns);
            if (bucket.ContainsKey(name))
            {
                return Status(409, "AlreadyExists", $"{resource.QualifiedName} \"{name}\" already exists", resource, name);
            }

            var copy = (JsonObject)body.DeepClone();
            copy["metadata"] = metadata?.DeepClone() ?? new JsonObject();
            copy["metadata"]!["name"] = name;
            copy["metadata"]!.AsObject().Remove("resourceVersion");
            copy["metadata"]!.AsObject().Remove("uid");
            copy["metadata"]!.AsObject().Remove("generation");
            copy["metadata"]!.AsObject().Remove("creationTimestamp");
            if (resource.HasStatus)
            {
                copy.Remove("status");
            }

            var version = ++_version;
            var stored = Normalize(resource, ns, copy, null, version);
            bucket[name] = stored;
            Log(resource, ns, version, "ADDED", null, stored, silently: false);
            return new StoreResult(201, (JsonObject)stored.DeepClone());
        }
    }

    /// <summary>PUT to the object (<paramref name="status"/> false: everything but status) or to its <c>/status</c> (only status).</summary>
    public StoreResult Update(ApiResource resource, string ns, string name, JsonObject body, bool status)
    {
        lock (_lock)
        {
            var metadata = body["metadata"] as JsonObject;
            if (BadNamespace(resource, ns, metadata) is { } bad)
            {
                return bad;
            }

            if (metadata?["name"]?.GetValue<string>() is { } bodyName && bodyName != name)
            {
                return Status(400, "BadRequest", $"the name of the object ({bodyName}) does not match the name on the URL ({name})", resource, name);
            }

            if (!Bucket(resource, ns).TryGetValue(name, out var old))
            {
                return NotFound(resource, name);
            }

            return Commit(resource, ns, name, old, body, status);
        }
    }

    /// <summary>PATCH: <paramref name="patch"/> turns the current object into the wanted one (throwing <see cref="InvalidOperationException"/> when it cannot apply).</summary>
    public StoreResult Patch(ApiResource resource, string ns, string name, Func<JsonObject, JsonNode?> patch, bool status)
    {
        lock (_lock)
        {
            if (!Bucket(resource, ns).TryGetValue(name, out var old))
            {
                return NotFound(resource, name);
            }

            JsonObject patched;
            try
            {
                patched = patch((JsonObject)old.DeepClone()) as JsonObject ?? throw new InvalidOperationException("the patch does not give an object");
            }
            catch (InvalidOperationException e)
            {
                return Status(422, "Invalid", $"{resource.Kind} \"{name}\" is invalid: {e.Message}", resource, name);
            }

            if (patched["metadata"] is not JsonObject metadata)
            {
                patched["metadata"] = metadata = [];
            }

            metadata["name"] = name;
            return Commit(resource, ns, name, old, patched, status);
        }
    }

    public StoreResult Remove(ApiResource resource, string ns, string name)
    {
        lock (_lock)
        {
            return DeleteLocked(resource, ns, name, silently: false) is { } deleted
                ? new StoreResult(200, (JsonObject)deleted.Object.DeepClone())
                : NotFound(resource, name);
        }
    }

    // ---- Watches ----

    /// <summary>
    /// Where a watch starts. No resource version (or "0"), or sendInitialEvents: a synthetic ADDED for every current object,
    /// then the changes after now. Otherwise the changes after that version, or null (410 Expired) when it was compacted away.
    /// </summary>
    public (long Next, List<string> Initial)? BeginWatch(WatchFilter filter, string? resourceVersion, bool sendInitialEvents)
    {
        lock (_lock)
        {
            if (string.IsNullOrEmpty(resourceVersion) || resourceVersion == "0" || sendInitialEvents)
            {
                var initial = Current(filter.Resource, filter.Namespace, filter.Selector).Select(o => Line("ADDED", filter, o)).ToList();
                if (sendInitialEvents && filter.Bookmarks)
                {
                    var end = BookmarkObject(filter.Resource, _version);
                    end["metadata"]!["annotations"] = new JsonObject { ["k8s.io/initial-events-end"] = "true" };
                    initial.Add(new JsonObject { ["type"] = "BOOKMARK", ["object"] = end }.ToJsonString());
                }

                return (_version, initial);
            }

            var from = long.TryParse(resourceVersion, CultureInfo.InvariantCulture, out var v) ? v : -1;
            return from < _oldestWatchable ? null : (from, []);
        }
    }

    public long OldestWatchable
    {
        get
        {
            lock (_lock)
            {
                return _oldestWatchable;
            }
        }
    }

    /// <summary>The version of the newest logged change (0 when nothing is logged).</summary>
    public long LatestLogged
    {
        get
        {
            lock (_lock)
            {
                return _log.Count > 0 ? _log[^1].Version : 0;
            }
        }
    }

    /// <summary>The lines for <paramref name="filter"/> logged after <paramref name="next"/>, where to read from next time, and a task that completes at the next change.</summary>
    public (List<string> Lines, long Next, Task Changed) ReadSince(WatchFilter filter, long next)
    {
        lock (_lock)
        {
            // Only what arrived since the last turn: scan back from the end of the log.
            var start = _log.Count;
            while (start > 0 && _log[start - 1].Version > next)
            {
                start--;
            }

            var lines = new List<string>();
            for (var i = start; i < _log.Count; i++)
            {
                if (Render(_log[i], filter) is { } line)
                {
                    lines.Add(line);
                }
            }

            return (lines, Math.Max(next, _log.Count > 0 ? _log[^1].Version : next), _changed.Task);
        }
    }

    // ---- Internals (under the lock) ----

    private sealed record LogEntry(ApiResource Resource, string Namespace, long Version, string Type, JsonObject? Old, JsonObject? Object, string? Raw);

    private SortedDictionary<string, JsonObject> Bucket(ApiResource resource, string ns)
    {
        var key = (resource, resource.Namespaced ? ns : "");
        if (!_objects.TryGetValue(key, out var bucket))
        {
            _objects[key] = bucket = new SortedDictionary<string, JsonObject>(StringComparer.Ordinal);
        }

        return bucket;
    }

    private IEnumerable<JsonObject> Current(ApiResource resource, string ns, ApiSelector selector) =>
        _objects
            .Where(b => b.Key.Resource == resource && (ns.Length == 0 || b.Key.Namespace == ns))
            .OrderBy(b => b.Key.Namespace, StringComparer.Ordinal)
            .SelectMany(b => b.Value.Values)
            .Where(selector.Matches);

    private StoreResult Commit(ApiResource resource, string ns, string name, JsonObject old, JsonObject body, bool status)
    {
        var oldVersion = old["metadata"]?["resourceVersion"]?.GetValue<string>();
        if (body["metadata"]?["resourceVersion"]?.GetValue<string>() is { Length: > 0 } wanted && wanted != oldVersion)
        {
            return Status(409, "Conflict", $"Operation cannot be fulfilled on {resource.QualifiedName} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", resource, name);
        }

        JsonObject wantedObject;
        if (status)
        {
            // Only status is taken from a write to /status.
            wantedObject = (JsonObject)old.DeepClone();
            wantedObject.Remove("status");
            if (body["status"] is { } newStatus)
            {
                wantedObject["status"] = newStatus.DeepClone();
            }
        }
        else
        {
            // A write to the object itself cannot change status when the kind has a status subresource.
            wantedObject = (JsonObject)body.DeepClone();
            if (resource.HasStatus)
            {
                wantedObject.Remove("status");
                if (old["status"] is { } oldStatus)
                {
                    wantedObject["status"] = oldStatus.DeepClone();
                }
            }
        }

        var candidate = Normalize(resource, ns, wantedObject, old, long.Parse(oldVersion ?? "0", CultureInfo.InvariantCulture));
        if (JsonNode.DeepEquals(candidate, old))
        {
            // A no-op write: etcd is not written, the version does not move, no watch hears of it.
            return new StoreResult(200, (JsonObject)old.DeepClone());
        }

        var version = ++_version;
        var stored = Normalize(resource, ns, wantedObject, old, version);
        Bucket(resource, ns)[name] = stored;
        Log(resource, ns, version, "MODIFIED", old, stored, silently: false);
        return new StoreResult(200, (JsonObject)stored.DeepClone());
    }

    private (long Version, JsonObject Object)? DeleteLocked(ApiResource resource, string ns, string name, bool silently)
    {
        if (!Bucket(resource, ns).Remove(name, out var obj))
        {
            return null;
        }

        var version = ++_version;
        obj["metadata"]!["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture);
        Log(resource, ns, version, "DELETED", null, obj, silently);
        return (version, obj);
    }

    /// <summary>
    /// The stored form: apiVersion and kind first, the namespace from the URL (none for a cluster-scoped kind), the new
    /// resource version, uid and creationTimestamp kept from the old object, and a generation that moves when anything
    /// but metadata and status changes.
    /// </summary>
    private static JsonObject Normalize(ApiResource resource, string ns, JsonObject obj, JsonObject? old, long version)
    {
        var metadata = (JsonObject)(obj["metadata"]?.DeepClone() ?? new JsonObject());
        if (resource.Namespaced)
        {
            metadata["namespace"] = ns;
        }
        else
        {
            metadata.Remove("namespace");
        }

        metadata["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture);
        metadata["uid"] = old?["metadata"]?["uid"]?.DeepClone() ?? metadata["uid"]?.DeepClone() ?? Guid.NewGuid().ToString();
        metadata["creationTimestamp"] = old?["metadata"]?["creationTimestamp"]?.DeepClone()
            ?? metadata["creationTimestamp"]?.DeepClone()
            ?? DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var generation = old?["metadata"]?["generation"]?.GetValue<long>() ?? metadata["generation"]?.GetValue<long>() ?? 1;
        if (old is not null && !JsonNode.DeepEquals(Body(old), Body(obj)))
        {
            generation++;
        }

        metadata["generation"] = generation;
        var stored = new JsonObject { ["apiVersion"] = resource.ApiVersion, ["kind"] = resource.Kind, ["metadata"] = metadata };
        foreach (var (key, value) in obj)
        {
            if (key is not ("apiVersion" or "kind" or "metadata"))
            {
                stored[key] = value?.DeepClone();
            }
        }

        return stored;
    }

    /// <summary>Everything but apiVersion, kind, metadata and status: what moves the generation.</summary>
    private static JsonObject Body(JsonObject obj)
    {
        var body = new JsonObject();
        foreach (var (key, value) in obj)
        {
            if (key is not ("apiVersion" or "kind" or "metadata" or "status"))
            {
                body[key] = value?.DeepClone();
            }
        }

        return body;
    }

    private void Log(ApiResource resource, string ns, long version, string type, JsonObject? old, JsonObject obj, bool silently)
    {
        if (silently || DropEvents)
        {
            Signal();
            return;
        }

        Append(new LogEntry(resource, resource.Namespaced ? ns : "", version, type, old, obj, null));
    }

    private void Append(LogEntry entry)
    {
        _log.Add(entry);
        Signal();
    }

    private void Signal()
    {
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }

    /// <summary>
    /// What one watch sees of one log entry. A selector-filtered watch sees an object that starts matching as ADDED and
    /// one that stops matching as DELETED, as the real server's watch cache sends them.
    /// </summary>
    private static string? Render(LogEntry entry, WatchFilter filter)
    {
        if (entry.Resource != filter.Resource || (filter.Namespace.Length > 0 && entry.Namespace.Length > 0 && entry.Namespace != filter.Namespace))
        {
            return null;
        }

        switch (entry.Type)
        {
            case "RAW":
                return entry.Raw;
            case "BOOKMARK":
                return filter.Bookmarks ? new JsonObject { ["type"] = "BOOKMARK", ["object"] = BookmarkObject(entry.Resource, entry.Version) }.ToJsonString() : null;
        }

        var now = filter.Selector.Matches(entry.Object!);
        var before = entry.Old is not null && filter.Selector.Matches(entry.Old);
        var type = entry.Type switch
        {
            "MODIFIED" when before && now => "MODIFIED",
            "MODIFIED" when now => "ADDED",
            "MODIFIED" when before => "DELETED",
            "ADDED" or "DELETED" when now => entry.Type,
            _ => null,
        };
        return type is null ? null : Line(type, filter, entry.Object!);
    }

    private static string Line(string type, WatchFilter filter, JsonObject obj) =>
        new JsonObject { ["type"] = type, ["object"] = filter.MetadataOnly ? MetadataOf(obj) : obj.DeepClone() }.ToJsonString();

    private static JsonObject BookmarkObject(ApiResource resource, long version) => new()
    {
        ["kind"] = resource.Kind,
        ["apiVersion"] = resource.ApiVersion,
        ["metadata"] = new JsonObject { ["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture) },
    };

    /// <summary>An object as the API server sends it for <c>as=PartialObjectMetadata</c>.</summary>
    public static JsonObject MetadataOf(JsonObject obj) => new()
    {
        ["apiVersion"] = "meta.k8s.io/v1",
        ["kind"] = "PartialObjectMetadata",
        ["metadata"] = obj["metadata"]!.DeepClone(),
    };

    private static StoreResult? BadNamespace(ApiResource resource, string ns, JsonObject? metadata) =>
        resource.Namespaced && metadata?["namespace"]?.GetValue<string>() is { Length: > 0 } bodyNs && bodyNs != ns
            ? Status(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request", resource, metadata["name"]?.GetValue<string>() ?? "")
            : null;

    private static StoreResult NotFound(ApiResource resource, string name) =>
        Status(404, "NotFound", $"{resource.QualifiedName} \"{name}\" not found", resource, name);

    /// <summary>A <c>Status</c> failure as the API server sends it.</summary>
    public static StoreResult Status(int code, string reason, string message, ApiResource? resource = null, string? name = null)
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = message,
            ["reason"] = reason,
            ["code"] = code,
        };
        if (resource is not null)
        {
            status["details"] = new JsonObject { ["name"] = name ?? "", ["group"] = resource.Group, ["kind"] = resource.Plural };
        }

        return new StoreResult(code, status);
    }
}
