using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Kubernetes.Tests.Support;

/// <summary>A fake API server and discovery pointed at it, with a namespace of its own and metric capture.</summary>
internal sealed class Harness : IAsyncDisposable
{
    private readonly MeterListener _listener = new();
    private readonly List<(string Key, long AtLeast, TaskCompletionSource Reached)> _waiters = [];

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
        var discovery = new KubernetesDiscovery(options, time: time);
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

    /// <summary>The next request the server receives of the given kind (bounded wait).</summary>
    public async Task<ApiRequest> NextRequestAsync(bool watch)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(20));
        while (true)
        {
            var request = await Server.Requests.Reader.ReadAsync(cts.Token);
            if (request.Watch == watch && request.Namespace == Namespace)
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
