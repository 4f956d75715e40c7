using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoadBalancing.Proxy.Kubernetes.Api;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Kubernetes.Status;

/// <summary>
/// Writes the controller's status to each object's <c>/status</c> subresource: reads the object, merges (see
/// <see cref="StatusMerge"/>), and writes only when the merged status differs from the current one. The write is a
/// PUT of the whole object as read, with its <c>metadata.resourceVersion</c>: the server refuses it (409) if the object
/// changed since, and then the object is read and merged again. A PUT rather than a merge patch: a merge patch
/// replaces lists wholesale anyway (conditions, parents) and removes a field only when sent as null, so it would need
/// a diff to say what the controller no longer reports; the PUT says exactly what the status is. An object that is
/// gone (404) is skipped. Failures are logged and counted, never thrown: the next call tries again.
/// </summary>
internal sealed partial class StatusWriter
{
    /// <summary>Attempts per object: a read, a merge and a write each; conflicts beyond that wait for the next call.</summary>
    public const int MaxAttempts = 3;

    private readonly ObjectApi _api;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    // What each object was last brought to (written, or found already so): the same desire again needs no read.
    private readonly ConcurrentDictionary<(ApiKind Kind, string? Namespace, string Name), Settled> _settled = new();

    private long _writes;
    private long _conflicts;
    private long _failures;

    public StatusWriter(k8s.Kubernetes client, TimeProvider time, ILogger<StatusWriter> logger)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _api = new ObjectApi(client);
        _time = time;
        _logger = logger;
    }

    /// <summary>Status writes the API server accepted.</summary>
    public long Writes => Interlocked.Read(ref _writes);

    /// <summary>Writes refused with 409 because the object changed since it was read (each was read and merged again).</summary>
    public long Conflicts => Interlocked.Read(ref _conflicts);

    /// <summary>Objects whose status could not be brought up to date in a call: API errors, unreachable server, conflicts past <see cref="MaxAttempts"/>.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>
    /// Brings every object's status to the desired one. An object whose desired status equals the one last settled is
    /// not even read. Returns when every object has been tried; throws only <see cref="OperationCanceledException"/>
    /// for <paramref name="cancellationToken"/>.
    /// </summary>
    public async Task WriteAsync(IReadOnlyList<DesiredStatus> statuses, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(statuses);
        foreach (var desired in statuses)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var key = (desired.Kind, desired.Kind.Namespaced ? desired.Namespace ?? "default" : null, desired.Name);
            if (_settled.TryGetValue(key, out var settled) && settled.Matches(desired))
            {
                continue;
            }

            try
            {
                await WriteOneAsync(key, desired, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is HttpRequestException or IOException or JsonException or OperationCanceledException)
            {
                Interlocked.Increment(ref _failures);
                _settled.TryRemove(key, out _);
                LogFailed(_logger, Describe(key), e.Message, e);
            }
        }
    }

    /// <summary>
    /// Forgets what was settled, so the next call reads every object again. Call when this replica becomes leader:
    /// another leader may have written in between.
    /// </summary>
    public void Forget() => _settled.Clear();

    private async Task WriteOneAsync((ApiKind Kind, string? Namespace, string Name) key, DesiredStatus desired, CancellationToken cancellationToken)
    {
        var kind = desired.Kind;
        var what = Describe(key);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var read = await _api.GetAsync(kind.ObjectPath(key.Namespace, key.Name), cancellationToken).ConfigureAwait(false);
            if (read.Code == HttpStatusCode.NotFound)
            {
                Gone(key, what);
                return;
            }

            if (read.Body is not { } current)
            {
                Failed(key, what, read);
                return;
            }

            var now = _time.GetUtcNow().UtcDateTime.ToString(StatusMerge.TimeFormat, CultureInfo.InvariantCulture);
            var currentStatus = current["status"] as JsonObject;
            var merged = StatusMerge.Merge(currentStatus, desired.Status, desired.ParentsController, now);
            if (JsonNode.DeepEquals(Normalized(merged), currentStatus))
            {
                Settle(key, desired);
                return;
            }

            current["status"] = merged;
            var written = await _api.PutAsync(kind.ObjectPath(key.Namespace, key.Name, "status"), current, cancellationToken).ConfigureAwait(false);
            switch (written.Code)
            {
                case HttpStatusCode.OK or HttpStatusCode.Created:
                    Interlocked.Increment(ref _writes);
                    Settle(key, desired);
                    LogWritten(_logger, what);

                    return;
                case HttpStatusCode.Conflict:
                    Interlocked.Increment(ref _conflicts);
                    LogConflict(_logger, what, attempt);

                    continue;
                case HttpStatusCode.NotFound:
                    Gone(key, what);
                    return;
                default:
                    Failed(key, what, written);
                    return;
            }
        }

        Interlocked.Increment(ref _failures);
        _settled.TryRemove(key, out _);
        LogGaveUp(_logger, what, MaxAttempts);
    }

    private void Settle((ApiKind, string?, string) key, DesiredStatus desired) =>
        _settled[key] = new Settled((JsonObject)desired.Status.DeepClone(), desired.ParentsController);

    private void Gone((ApiKind, string?, string) key, string what)
    {
        _settled.TryRemove(key, out _);
        LogGone(_logger, what);
    }

    private void Failed((ApiKind, string?, string) key, string what, ApiAnswer answer)
    {
        Interlocked.Increment(ref _failures);
        _settled.TryRemove(key, out _);
        LogRefused(_logger, what, (int)answer.Code, answer.Message);
    }

    // The object as read went through the JSON parser; the merged status is built from nodes. Comparing both as parsed
    // JSON keeps a number built as a long equal to the same number read from text.
    private static JsonNode? Normalized(JsonObject status) => JsonNode.Parse(status.ToJsonString());

    private static string Describe((ApiKind Kind, string? Namespace, string Name) key) =>
        key.Namespace is null ? $"{key.Kind} {key.Name}" : $"{key.Kind} {key.Namespace}/{key.Name}";

    /// <summary>The desired status an object was last brought to.</summary>
    private sealed record Settled(JsonObject Status, string? ParentsController)
    {
        public bool Matches(DesiredStatus desired) =>
            ParentsController == desired.ParentsController && JsonNode.DeepEquals(Status, desired.Status);
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Debug, Message = "Wrote the status of {Object}.")]
    private static partial void LogWritten(ILogger logger, string @object);

    [LoggerMessage(EventId = 21, Level = LogLevel.Debug, Message = "The status write of {Object} conflicted (attempt {Attempt}): it changed since it was read; reading it again.")]
    private static partial void LogConflict(ILogger logger, string @object, int attempt);

    [LoggerMessage(EventId = 22, Level = LogLevel.Warning, Message = "Gave up writing the status of {Object} after {Attempts} conflicting attempts; it is tried again at the next write.")]
    private static partial void LogGaveUp(ILogger logger, string @object, int attempts);

    [LoggerMessage(EventId = 23, Level = LogLevel.Debug, Message = "{Object} no longer exists; its status is not written.")]
    private static partial void LogGone(ILogger logger, string @object);

    [LoggerMessage(EventId = 24, Level = LogLevel.Warning, Message = "The API server refused the status of {Object}: HTTP {Code} {Message}. It is tried again at the next write.")]
    private static partial void LogRefused(ILogger logger, string @object, int code, string message);

    [LoggerMessage(EventId = 25, Level = LogLevel.Warning, Message = "Writing the status of {Object} failed: {Reason}. It is tried again at the next write.")]
    private static partial void LogFailed(ILogger logger, string @object, string reason, Exception exception);
}
