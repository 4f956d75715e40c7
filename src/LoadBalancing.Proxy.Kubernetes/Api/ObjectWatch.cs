using System.Collections.Immutable;
using System.Text.Json;
using LoadBalancing.Kubernetes.Watching;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Kubernetes.Api;

/// <summary>
/// Keeps an up-to-date copy of every object of one kind (in one namespace or all), the way an informer does, and
/// survives what discovery survives: a dropped watch resumes from its last resourceVersion; a watch that goes quiet
/// past the idle timeout (no event, no bookmark) is abandoned and the kind relisted; 410 Gone relists; errors back
/// off and relist; a full list every few minutes confirms the view and counts what the watch had missed.
/// </summary>
/// <remarks>
/// An object that cannot be read is skipped, logged and counted, and never removes anything else. When an object
/// that was read before becomes unreadable, its last good version is kept (and its problem shown) until it is fixed
/// or deleted: a typo in an edit must not take a working route away.
/// </remarks>
internal sealed partial class ObjectWatch<T> : IObjectWatch, IObjectWatchProblems
    where T : class
{
    private readonly ObjectApi _api;
    private readonly Func<JsonElement, T> _read;
    private readonly WatchSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action _changed;
    private readonly Random _random = new();
    private readonly string _kindName;
    private readonly string? _fieldSelector;
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ImmutableDictionary<ObjectKey, Entry> _objects = ImmutableDictionary<ObjectKey, Entry>.Empty;
    private long _lastHeard;
    private long _lastListed;
    private int _watching;
    private long _unreadable;
    private long _missed;
    private long _signals;
    private string? _lastError;
    private bool _absent; // the last look found the kind not served (or, optional, not granted); cleared by a list

    public ObjectWatch(
        ObjectApi api, ApiKind kind, string? ns, Func<JsonElement, T> read, WatchSettings settings, TimeProvider time, ILogger logger, Action changed,
        string? fieldSelector = null)
    {
        _fieldSelector = fieldSelector;
        _api = api;
        Kind = kind;
        _kindName = kind.ToString();
        Namespace = ns;
        _scope = ns ?? "all namespaces";
        _read = read;
        _settings = settings;
        _time = time;
        _logger = logger;
        _changed = () =>
        {
            Interlocked.Increment(ref _signals);
            changed();
        };
    }

    public ApiKind Kind { get; }

    /// <summary>
    /// Whether routing can go on without this kind: a kind added after deployments began (GRPCRoute) that an older
    /// RBAC role does not grant. Its 403 then counts as none of it, as a 404 does, instead of holding back every
    /// route until the role is fixed.
    /// </summary>
    public bool Optional { get; init; }

    /// <summary>The namespace watched; null for every namespace (and for cluster-scoped kinds).</summary>
    public string? Namespace { get; }

    /// <summary>Every object read, by key: the last good version of each.</summary>
    public IEnumerable<T> Objects => _objects.Values.Select(e => e.LastGood).OfType<T>();

    /// <summary>Objects whose current version could not be read, with why (the last good version, if any, is still in <see cref="Objects"/>).</summary>
    public IEnumerable<(ObjectKey Key, string Problem)> Problems =>
        _objects.Where(p => p.Value.Problem is not null).Select(p => (p.Key, p.Value.Problem!));

    /// <summary>One line per unreadable object, naming its kind and key.</summary>
    public IEnumerable<string> ProblemLines => Problems.Select(p => $"{Kind.Kind} {p.Key}: {p.Problem}");

    /// <summary>The resourceVersion of an object as last seen (readable or not).</summary>
    public string? VersionOf(ObjectKey key) => _objects.TryGetValue(key, out var entry) ? entry.ResourceVersion : null;

    public bool Synced => _synced.Task.IsCompleted;

    /// <summary>How many times this watch has told its controller that something routing reads changed.</summary>
    public long Signals => Interlocked.Read(ref _signals);

    public Task WhenSyncedAsync(CancellationToken cancellationToken) => _synced.Task.WaitAsync(cancellationToken);

    public WatchHealth Health
    {
        get
        {
            var heard = Volatile.Read(ref _lastHeard);
            var listed = Volatile.Read(ref _lastListed);
            return new WatchHealth(
                Kind.ToString(), Namespace, Synced, Volatile.Read(ref _watching) == 1,
                heard == 0 ? null : _time.GetElapsedTime(heard),
                listed == 0 ? null : _time.GetElapsedTime(listed),
                _objects.Count, Interlocked.Read(ref _unreadable), Interlocked.Read(ref _missed), Volatile.Read(ref _lastError));
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = new Backoff(_settings.BackoffInitial, _settings.BackoffMax, _settings.BackoffResetAfter, _time, _random);
        string? version = null;
        var relist = true;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (relist || _time.GetElapsedTime(Volatile.Read(ref _lastListed)) >= _settings.RelistInterval)
                {
                    version = await ListAsync(cancellationToken).ConfigureAwait(false);
                    relist = false;
                    backoff.Healthy();
                }

                var (next, ended) = await WatchAsync(version, backoff, cancellationToken).ConfigureAwait(false);
                version = next;
                switch (ended)
                {
                    case WatchEnd.ServerClosed:
                        break;
                    case WatchEnd.Expired:
                        LogExpired(_logger, _kindName, _scope);
                        relist = true;
                        break;
                    case WatchEnd.Idle:
                        LogIdle(_logger, _kindName, _scope, _settings.WatchIdleTimeout.TotalSeconds);
                        relist = true;
                        break;
                    case WatchEnd.Unreadable:
                        relist = true;
                        break;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (ObjectApiException e) when (Absent(e) && (!Synced || _absent))
            {
                // The kind is not served (its CRDs are not installed, as GRPCRoute is not on Gateway API v1.0), or an
                // optional kind is not granted: there are none of it. Counting that as a list keeps the other kinds'
                // routes from waiting on it; listing again finds it once installed or granted. Said once, not at
                // every look.
                if (!_absent)
                {
                    if (e.Status == System.Net.HttpStatusCode.NotFound)
                    {
                        LogNotServed(_logger, _kindName);
                    }
                    else
                    {
                        LogNotGranted(_logger, _kindName, Kind.Plural, Kind.Group);
                    }
                }

                _absent = true;
                Volatile.Write(ref _lastError, e.Message);
                _synced.TrySetResult();
                _changed();
                relist = true;
                try
                {
                    await Task.Delay(_settings.BackoffMax, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            catch (Exception e)
            {
                Volatile.Write(ref _watching, 0);
                Volatile.Write(ref _lastError, e.Message);
                relist = true;
                var delay = backoff.NextDelay();
                LogFailed(_logger, _kindName, _scope, e.Message, delay.TotalSeconds);
                try
                {
                    await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        Volatile.Write(ref _watching, 0);
    }

    private readonly string _scope;

    private async Task<string?> ListAsync(CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_settings.ListTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var list = await _api.ListAsync(Kind, Namespace, _fieldSelector, _read, linked.Token).ConfigureAwait(false);
        var before = _objects;
        var after = ImmutableDictionary.CreateBuilder<ObjectKey, Entry>();
        foreach (var item in list.Items)
        {
            after[item.Key] = Merge(before.GetValueOrDefault(item.Key), item);
        }

        var changed = Differs(before, after);
        if (changed && Synced)
        {
            // The watch should have told us: whatever differs now was missed (or is still in flight).
            Interlocked.Increment(ref _missed);
            LogDrift(_logger, _kindName, _scope);
        }

        _objects = after.ToImmutable();
        Volatile.Write(ref _lastListed, _time.GetTimestamp());
        Volatile.Write(ref _lastHeard, _time.GetTimestamp());
        Volatile.Write(ref _lastError, null);
        _absent = false;
        _synced.TrySetResult();
        if (changed)
        {
            _changed();
        }

        return list.ResourceVersion;
    }

    private async Task<(string? Version, WatchEnd End)> WatchAsync(string? version, Backoff backoff, CancellationToken cancellationToken)
    {
        var span = _settings.WatchTimeoutMax - _settings.WatchTimeoutMin;
        var serverTimeout = _settings.WatchTimeoutMin + (span * _random.NextDouble());

        // The idle timer restarts with every line; a bookmark counts, so a quiet kind is not mistaken for a hung watch.
        using var idle = new CancellationTokenSource(_settings.WatchIdleTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, idle.Token);
        try
        {
            Volatile.Write(ref _watching, 1);
            await foreach (var line in _api.WatchAsync(Kind, Namespace, _fieldSelector, _read, version, (int)serverTimeout.TotalSeconds, linked.Token).ConfigureAwait(false))
            {
                idle.CancelAfter(_settings.WatchIdleTimeout);
                Volatile.Write(ref _lastHeard, _time.GetTimestamp());
                backoff.Healthy();
                switch (line.Kind)
                {
                    case ObjectEventKind.Bookmark:
                        version = line.ResourceVersion ?? version;
                        break;
                    case ObjectEventKind.Error when line.Code == 410:
                        return (version, WatchEnd.Expired);
                    case ObjectEventKind.Error:
                        throw new ObjectApiException((System.Net.HttpStatusCode)line.Code, line.Message ?? "");
                    case ObjectEventKind.Unreadable:
                        // Which object it was is unknown; only a list can say what changed.
                        Interlocked.Increment(ref _unreadable);
                        LogUnreadable(_logger, _kindName, _scope, line.Message ?? "");
                        return (version, WatchEnd.Unreadable);
                    case ObjectEventKind.Deleted:
                        version = line.ResourceVersion ?? version;
                        if (_objects.ContainsKey(line.Item!.Key))
                        {
                            _objects = _objects.Remove(line.Item.Key);
                            _changed();
                        }

                        break;
                    default:
                        version = line.ResourceVersion ?? version;
                        var item = line.Item!;
                        var previous = _objects.GetValueOrDefault(item.Key);
                        _objects = _objects.SetItem(item.Key, Merge(previous, item));

                        // A status write (ours, most often) changes nothing routing reads.
                        if (!IsStatusOnly(previous, item))
                        {
                            _changed();
                        }

                        break;
                }
            }

            return (version, WatchEnd.ServerClosed);
        }
        catch (OperationCanceledException) when (idle.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return (version, WatchEnd.Idle);
        }
        finally
        {
            Volatile.Write(ref _watching, 0);
        }
    }

    private static bool IsStatusOnly(Entry? previous, ObjectItem<T> item) =>
        item.SpecStamp is not null && previous is { Problem: null } && item.Object is not null && previous.SpecStamp == item.SpecStamp;

    private Entry Merge(Entry? previous, ObjectItem<T> item)
    {
        if (item.Object is not null)
        {
            return new Entry(item.Object, item.ResourceVersion, null, item.SpecStamp);
        }

        if (previous?.ResourceVersion != item.ResourceVersion || previous?.Problem is null)
        {
            Interlocked.Increment(ref _unreadable);
            LogUnreadableObject(_logger, _kindName, item.Key.ToString(), item.Problem ?? "", previous?.LastGood is not null);
        }

        return new Entry(previous?.LastGood, item.ResourceVersion, item.Problem, null);
    }

    private bool Absent(ObjectApiException e) =>
        e.Status == System.Net.HttpStatusCode.NotFound || (Optional && e.Status == System.Net.HttpStatusCode.Forbidden);

    private static bool Differs(ImmutableDictionary<ObjectKey, Entry> before, ImmutableDictionary<ObjectKey, Entry>.Builder after) =>
        before.Count != after.Count || before.Any(p => !after.TryGetValue(p.Key, out var now) || now.ResourceVersion != p.Value.ResourceVersion);

    private sealed record Entry(T? LastGood, string? ResourceVersion, string? Problem, string? SpecStamp);

    private enum WatchEnd
    {
        ServerClosed,
        Expired,
        Idle,
        Unreadable,
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The API server does not serve {Kind} (404): are its CRDs installed? Treating it as empty and checking again.")]
    private static partial void LogNotServed(ILogger logger, string kind);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Not allowed to list {Kind} (403): grant list and watch on {Plural} (API group {Group}) to the controller's role. Treating it as empty and checking again.")]
    private static partial void LogNotGranted(ILogger logger, string kind, string plural, string group);

    [LoggerMessage(Level = LogLevel.Information, Message = "The {Kind} watch of {Scope} expired (410 Gone); relisting.")]
    private static partial void LogExpired(ILogger logger, string kind, string scope);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The {Kind} watch of {Scope} sent nothing for {Seconds:0} s, not even a bookmark; abandoning it and relisting.")]
    private static partial void LogIdle(ILogger logger, string kind, string scope, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading {Kind} in {Scope} failed: {Error}; relisting in {DelaySeconds:0.0} s. Routes keep their last good state.")]
    private static partial void LogFailed(ILogger logger, string kind, string scope, string error, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A full list of {Kind} in {Scope} differed from what the watch had delivered; the list is now in use.")]
    private static partial void LogDrift(ILogger logger, string kind, string scope);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A {Kind} watch line in {Scope} could not be read ({Problem}); relisting.")]
    private static partial void LogUnreadable(ILogger logger, string kind, string scope, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Kind} {Object} was skipped: {Problem} (last good version kept: {KeptLastGood}).")]
    private static partial void LogUnreadableObject(ILogger logger, string kind, string @object, string problem, bool keptLastGood);
}

/// <summary>What a controller needs of any watch: its health, and whether it has listed once.</summary>
internal interface IObjectWatch
{
    bool Synced { get; }

    WatchHealth Health { get; }

    Task RunAsync(CancellationToken cancellationToken);

    Task WhenSyncedAsync(CancellationToken cancellationToken);
}

/// <summary>The unreadable objects of a watch: as log lines, and by key (their last good version, if any, is in use).</summary>
internal interface IObjectWatchProblems
{
    ApiKind Kind { get; }

    IEnumerable<string> ProblemLines { get; }

    IEnumerable<(ObjectKey Key, string Problem)> Problems { get; }

    string? VersionOf(ObjectKey key);
}

/// <summary>How fresh one watch's view is, for <c>/config</c> and the logs.</summary>
internal sealed record WatchHealth(
    string Kind, string? Namespace, bool Synced, bool Watching, TimeSpan? SinceLastLine, TimeSpan? SinceLastList,
    int Objects, long Unreadable, long Missed, string? LastError);
