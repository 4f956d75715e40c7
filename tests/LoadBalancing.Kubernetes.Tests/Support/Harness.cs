using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Kubernetes.Tests.Support;

/// <summary>A fake API server and discovery pointed at it, with a namespace of its own and metric capture.</summary>
internal sealed class Harness : IAsyncDisposable
{
    private readonly MeterListener _listener = new();
    private readonly List<(string Key, long AtLeast, TaskCompletionSource Reached)> _waiters = [];
    private readonly System.Threading.Channels.Channel<TimeSpan> _backoffs = System.Threading.Channels.Channel.CreateUnbounded<TimeSpan>();

    private Harness(FakeApiServer server, KubernetesDiscovery discovery, string ns, FakeTimeProvider? time)
    {
        Server = server;
        Discovery = discovery;
        Namespace = ns;
        Time = time;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter == discovery.Metrics.Meter)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var key = instrument.Name + string.Concat(tags.ToArray().Where(t => t.Key != "namespace").OrderBy(t => t.Key).Select(t => $"|{t.Key}={t.Value}"));
            var total = Counters.AddOrUpdate(key, value, (_, old) => old + value);
            lock (_waiters)
            {
                _waiters.RemoveAll(w => w.Key == key && total >= w.AtLeast && w.Reached.TrySetResult());
            }
        });
        _listener.Start();
        foreach (var watcher in discovery.Namespaces)
        {
            watcher.BackingOff += delay => _backoffs.Writer.TryWrite(delay);
        }
    }

    public FakeApiServer Server { get; }

    public KubernetesDiscovery Discovery { get; }

    public string Namespace { get; }

    public FakeTimeProvider? Time { get; }

    /// <summary>Counter totals by instrument name and tags (other than namespace), e.g. <c>lb.kubernetes.watch.restarts|cause=idle</c>.</summary>
    public ConcurrentDictionary<string, long> Counters { get; } = new();

    public long Counter(string key) => Counters.GetValueOrDefault(key);

    /// <summary>Waits (bounded) until a counter reaches a value: how a test knows discovery has seen something.</summary>
    public async Task WhenCounterAsync(string key, long atLeast = 1)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_waiters)
        {
            if (Counter(key) >= atLeast)
            {
                return;
            }

            _waiters.Add((key, atLeast, reached));
        }

        try
        {
            await reached.Task.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"counter {key} never reached {atLeast} within 20 s (it is {Counter(key)})");
        }
    }

    public static async Task<Harness> CreateAsync(Action<KubernetesDiscoveryOptions>? configure = null, FakeTimeProvider? time = null, string[]? services = null, FakeApiServer? server = null)
    {
        server ??= await FakeApiServer.StartAsync();
        var ns = "ns-" + Guid.NewGuid().ToString("N")[..8];
        var options = new KubernetesDiscoveryOptions { ApiServer = server.Url, MinPublishInterval = TimeSpan.Zero };
        if (time is null)
        {
            // Real-clock tests: short reconnect delays, so a reconnect costs milliseconds, not seconds.
            options.BackoffInitial = TimeSpan.FromMilliseconds(20);
            options.BackoffMax = TimeSpan.FromMilliseconds(200);
        }

        foreach (var service in services ?? ["web"])
        {
            options.Services.Add(new ServiceReference { Namespace = ns, Name = service, Port = "http" });
        }

        configure?.Invoke(options);
        var discovery = new KubernetesDiscovery(options, time: time, loggerFactory: new TestOutputLoggerFactory());
        return new Harness(server, discovery, ns, time);
    }

    public EndpointSource Source(string service = "web", string? port = "http") => Discovery.GetSource(Namespace, service, port);

    /// <summary>Starts discovery; when the first list is expected to succeed, waits for it.</summary>
    public async Task StartAsync(bool waitForSync = true)
    {
        var start = Discovery.StartAsync(TestContext.Current.CancellationToken);
        if (waitForSync)
        {
            await Discovery.WaitForSyncAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
            await start.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        }
    }

    /// <summary>
    /// Advances the injected clock by <paramref name="total"/> the way real time would pass for the confirmation loop:
    /// in steps that end where its waits end, letting each attempt finish before the clock moves on.
    /// </summary>
    /// <param name="total">How far.</param>
    /// <param name="throughPublisherWaits">Whether to move the clock through the loop's bound on a publisher that does not answer.</param>
    public async Task AdvanceAsync(TimeSpan total, bool throughPublisherWaits = false)
    {
        var time = Time ?? throw new InvalidOperationException("a real-clock harness cannot be advanced");
        var confirmer = Discovery.Confirmer(Namespace);
        var end = time.GetTimestamp() + (long)(total.TotalSeconds * time.TimestampFrequency);
        while (time.GetTimestamp() < end)
        {
            var next = confirmer.NextWaitAsync();
            var publisherWait = throughPublisherWaits ? confirmer.NextPublisherWaitAsync() : Task.Delay(Timeout.Infinite, TestContext.Current.CancellationToken);
            var due = confirmer.WaitingUntil;
            var publisher = confirmer.PublisherWaitUntil;
            if (due == 0 && throughPublisherWaits && publisher > 0)
            {
                due = publisher;
            }

            if (due == 0)
            {
                // Busy with an attempt (real requests on loopback): let it reach its next wait first.
                await BoundedAsync(Task.WhenAny(next, publisherWait), "the confirmation loop to wait again");
                continue;
            }

            if (confirmer.InGrace)
            {
                await WatchDrainedAsync();
            }

            var stop = Math.Min(end, due);
            time.Advance(TimeSpan.FromSeconds(Math.Max(1, stop - time.GetTimestamp()) / (double)time.TimestampFrequency));
            if (time.GetTimestamp() >= due)
            {
                await BoundedAsync(Task.WhenAny(next, publisherWait), "the confirmation loop to finish its attempt");
            }
        }
    }

    /// <summary>
    /// Waits until the server's watches have written every change and the watch has applied every line written. The
    /// injected clock can run a grace period in no real time at all; real time must let the watch deliver what is on
    /// the wire (or about to be) first, as it would in production.
    /// </summary>
    private async Task WatchDrainedAsync()
    {
        var watcher = Discovery.Namespaces.Single();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        while ((watcher.LinesRead < Server.LinesWritten || !Server.WatchesCaughtUp) && !bound.IsCancellationRequested)
        {
            var next = watcher.NextLineAsync();
            if (watcher.LinesRead >= Server.LinesWritten && Server.WatchesCaughtUp)
            {
                break;
            }

            // Bounded: lines written to a connection that was then cut are never read.
            await Task.WhenAny(next, Task.Delay(Timeout.Infinite, bound.Token));
        }
    }

    /// <summary>Moves the clock, a second at a time, until a watch is open again (bounded).</summary>
    public async Task UntilWatchOpenAsync()
    {
        var watcher = Discovery.Namespaces.Single();
        for (var i = 0; i < 120; i++)
        {
            var established = watcher.NextEstablishedAsync();
            if (watcher.EstablishedSession >= 0)
            {
                return;
            }

            // Let the watch loop use the real time it needs (a request on loopback) before the clock moves on: it
            // either opens a watch or begins a backoff that only the clock ends.
            var backoff = _backoffs.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask();
            using var bound = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            await Task.WhenAny(established, backoff, Task.Delay(Timeout.Infinite, bound.Token));
            if (watcher.EstablishedSession < 0)
            {
                await AdvanceAsync(TimeSpan.FromSeconds(1));
            }
        }

        throw new Xunit.Sdk.XunitException("the watch did not open again within 120 s of the injected clock");
    }

    private static async Task BoundedAsync(Task task, string what)
    {
        try
        {
            await task.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"waited 20 s for {what}");
        }
    }

    /// <summary>The next request the server receives of the given kind (bounded wait); confirmations (metadata-only lists) are skipped unless asked for.</summary>
    public async Task<ApiRequest> NextRequestAsync(bool watch, bool confirmation = false)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(20));
        while (true)
        {
            var request = await Server.Requests.Reader.ReadAsync(cts.Token);
            if (request.Watch == watch && request.Namespace == Namespace && request.MetadataOnly == confirmation)
            {
                return request;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        await Discovery.DisposeAsync();
        await Server.DisposeAsync();
    }
}

internal static class SourceExtensions
{
    /// <summary>Waits (bounded) until the source's current set satisfies <paramref name="condition"/>.</summary>
    public static async Task<EndpointSet> WaitForAsync(this EndpointSource source, Func<EndpointSet, bool> condition, string what)
    {
        var reached = new TaskCompletionSource<EndpointSet>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = source.Subscribe(set =>
        {
            if (condition(set))
            {
                reached.TrySetResult(set);
            }
        });
        if (condition(source.Current))
        {
            return source.Current;
        }

        try
        {
            return await reached.Task.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            var now = string.Join(", ", source.Current.Endpoints.Select(e => $"{e}({e.Conditions})"));
            throw new Xunit.Sdk.XunitException($"the published endpoints never became {what} within 20 s; they are [{now}]");
        }
    }

    public static string[] Addresses(this EndpointSet set) => [.. set.Endpoints.Select(e => $"{e.Address}:{e.Port}").Order(StringComparer.Ordinal)];
}
