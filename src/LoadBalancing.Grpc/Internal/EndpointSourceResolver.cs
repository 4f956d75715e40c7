using Grpc.Core;
using Grpc.Net.Client.Balancer;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Grpc.Internal;

/// <summary>
/// Pushes an <see cref="EndpointSource"/>'s ready endpoints to a channel on every change. Nothing to poll once the
/// source has synced: its publishes arrive here. Before that, the channel is told the source has not synced, and the
/// source is re-checked every <see cref="NotSyncedRecheck"/>, because a first sync that finds no endpoints publishes
/// nothing new and so notifies no subscriber.
/// </summary>
internal sealed partial class EndpointSourceResolver : Resolver
{
    internal static readonly TimeSpan NotSyncedRecheck = TimeSpan.FromMilliseconds(250);

    private readonly Lock _lock = new();
    private readonly EndpointSource _source;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private Action<ResolverResult>? _listener;
    private IDisposable? _subscription;
    private ITimer? _recheck;
    // The version last reported to the channel; a source that has never synced is at version 0 too, so it has its own mark.
    private const long NothingReported = -1;
    private const long NotSyncedReported = -2;
    private long _reportedVersion = NothingReported;
    private bool _disposed;

    public EndpointSourceResolver(EndpointSource source, TimeProvider time, ILoggerFactory loggerFactory)
    {
        _source = source;
        _time = time;
        _logger = loggerFactory.CreateLogger("LoadBalancing.Grpc.Resolver");
    }

    public override void Start(Action<ResolverResult> listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        lock (_lock)
        {
            if (_listener is not null)
            {
                throw new InvalidOperationException("The resolver has already been started.");
            }

            _listener = listener;
            _subscription = _source.Subscribe(_ => Report());
        }

        Report();
    }

    /// <summary>Nothing to do: every change of the source is pushed as it happens.</summary>
    public override void Refresh()
    {
    }

    private void Report()
    {
        lock (_lock)
        {
            if (_disposed || _listener is null)
            {
                return;
            }

            // Read the latest set, not the one a notification carried: publishes on different threads may notify out of order.
            var set = _source.Current;
            if (set.Version == 0 && _source.LastConfirmed is null)
            {
                if (_reportedVersion != NotSyncedReported)
                {
                    _reportedVersion = NotSyncedReported;
                    Log.NotSynced(_logger, _source.Name);
                    _listener(ResolverResult.ForFailure(new Status(StatusCode.Unavailable, $"The endpoints of '{_source.Name}' are not known yet: discovery has not synced.")));
                }

                _recheck ??= _time.CreateTimer(static s => ((EndpointSourceResolver)s!).Report(), this, NotSyncedRecheck, NotSyncedRecheck);
                return;
            }

            _recheck?.Dispose();
            _recheck = null;
            if (set.Version == _reportedVersion)
            {
                return;
            }

            _reportedVersion = set.Version;
            var addresses = new List<BalancerAddress>(set.Count);
            foreach (var endpoint in set.Endpoints)
            {
                // Ready only: grpc-dotnet's own policies would treat any address as ready to serve.
                if ((endpoint.Conditions & EndpointConditions.Ready) == 0)
                {
                    continue;
                }

                var address = new BalancerAddress(endpoint.Address, endpoint.Port);
                address.Attributes.Set(LoadBalancingAttributes.Weight, endpoint.Weight);
                if (endpoint.IsHashKeyExplicit)
                {
                    address.Attributes.Set(LoadBalancingAttributes.HashKey, endpoint.HashKey);
                }

                addresses.Add(address);
            }

            Log.Resolved(_logger, _source.Name, addresses.Count, set.Version);
            _listener(ResolverResult.ForResult(addresses));
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_lock)
            {
                _disposed = true;
                _recheck?.Dispose();
                _subscription?.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Endpoint source '{Source}' resolved to {Count} ready addresses (version {Version}).", EventName = "Resolved")]
        public static partial void Resolved(ILogger logger, string source, int count, long version);

        [LoggerMessage(2, LogLevel.Debug, "Endpoint source '{Source}' has not synced yet; the channel is told it is unavailable.", EventName = "NotSynced")]
        public static partial void NotSynced(ILogger logger, string source);
    }
}
