using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using LoadBalancing;
using LoadBalancing.Kubernetes;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ProxyHost;
using static LoadBalancing.Kubernetes.Tests.Support.Slices;

namespace FreshnessScenarios;

/// <summary>A pod: a real HTTP server on its own loopback address that answers with its name.</summary>
internal sealed class Pod : IAsyncDisposable
{
    private readonly WebApplication _app;

    private Pod(string name, string ip, WebApplication app)
    {
        Name = name;
        Ip = ip;
        _app = app;
    }

    public string Name { get; }

    public string Ip { get; }

    public static async Task<Pod> StartAsync(string name, string ip, int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Parse(ip), port));
        var app = builder.Build();
        app.Run(context => context.Response.WriteAsync(name));
        await app.StartAsync();
        return new Pod(name, ip, app);
    }

    public async ValueTask DisposeAsync()
    {
        using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await _app.StopAsync(stop.Token);
        }

        await _app.DisposeAsync();
    }
}

/// <summary>
/// One scenario's world on loopback: a fake API server (with a BOOKMARK every 60 s on each open, non-hung watch), two
/// Services whose pods are real HTTP servers on 127.B.C.D addresses, and the real ProxyHost following them through
/// Kubernetes discovery with its default options (only the API server named).
/// </summary>
internal sealed class Rig : IAsyncDisposable
{
    public const string Namespace = "prod";
    public static readonly string[] Services = ["checkout", "catalog"];

    /// <summary>The ConfirmInterval + ConfirmGrace at the defaults: the oldest a healthy view's age gets.</summary>
    public static readonly TimeSpan HealthyViewAge = TimeSpan.FromSeconds(13);

    private static readonly int SecondOctet = Random.Shared.Next(20, 240);
    private static int s_rigs;

    private readonly Dictionary<string, List<Pod>> _pods = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _ports = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _octets = new(StringComparer.Ordinal);
    private readonly List<Pod> _retired = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<(TimeSpan At, ApiRequest Request)> _requests = new();
    private Task _reader = Task.CompletedTask;
    private Timer? _bookmarks;
    private int _nextPod;
    private string? _configFile;

    private Rig(FakeApiServer api) => Api = api;

    /// <summary>Since the rig started (the time base of <see cref="Requests"/>).</summary>
    public Stopwatch Clock { get; } = Stopwatch.StartNew();

    public FakeApiServer Api { get; }

    public WebApplication App { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    public HttpClient Admin { get; private set; } = null!;

    public KubernetesDiscovery Discovery => App.Services.GetRequiredService<KubernetesDiscovery>();

    /// <summary>Every request the API server received, with when (on <see cref="Clock"/>).</summary>
    public IEnumerable<(TimeSpan At, ApiRequest Request)> Requests => _requests;

    public IReadOnlyList<Pod> Pods(string service) => _pods[service];

    public static async Task<Rig> StartAsync(int podsPerService = 3)
    {
        var rig = new Rig(await FakeApiServer.StartAsync());
        var index = Interlocked.Increment(ref s_rigs);
        rig._reader = Task.Run(rig.ReadRequestsAsync);
        for (var s = 0; s < Services.Length; s++)
        {
            var service = Services[s];
            rig._octets[service] = (index * 4) + s;
            rig._pods[service] = [];
            rig._ports[service] = FreePort($"127.{SecondOctet}.{rig._octets[service]}.250");
            for (var i = 0; i < podsPerService; i++)
            {
                rig._pods[service].Add(await rig.StartPodAsync(service));
            }

            rig.PublishSlice(service);
        }

        // A real API server sends a BOOKMARK about every minute on each open watch; hung watches hear nothing.
        rig._bookmarks = new Timer(_ => rig.Api.Bookmark(Namespace), null, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60));

        rig._configFile = Path.Combine(Path.GetTempPath(), $"freshness-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(rig._configFile, JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["Logging"] = new Dictionary<string, object> { ["LogLevel"] = new Dictionary<string, string> { ["Default"] = "Warning", ["LoadBalancing"] = "Error" } },
            ["Kubernetes"] = new Dictionary<string, object> { ["ApiServer"] = rig.Api.Url }, // every other option at its default
            ["Proxy"] = new Dictionary<string, object>
            {
                ["Listeners"] = new[] { new Dictionary<string, string> { ["Url"] = "http://127.0.0.1:0" } },
                ["Admin"] = new Dictionary<string, string> { ["Url"] = "http://127.0.0.1:0" },
                ["Routes"] = Services.Select(s => new Dictionary<string, string> { ["Path"] = "/" + s, ["Cluster"] = s }).ToArray(),
                ["Clusters"] = Services.ToDictionary(s => s, s => (object)new Dictionary<string, object>
                {
                    ["Algorithm"] = "LeastRequest",
                    ["MaxAttempts"] = 3,
                    ["ConnectTimeout"] = "00:00:01",
                    ["Kubernetes"] = new Dictionary<string, string> { ["Namespace"] = Namespace, ["Service"] = s, ["Port"] = "http" },
                    ["OutlierDetection"] = new Dictionary<string, object> { ["ConsecutiveFailures"] = 2, ["BaseEjectionTime"] = "00:00:30" },
                }),
            },
        }));

        var (app, _) = await ProxyHostApp.BuildAsync(["--config", rig._configFile]);
        rig.App = app;
        using (var starting = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            await app.StartAsync(starting.Token);
        }

        var listeners = app.Services.GetRequiredService<ProxyListeners>();
        rig.Client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 16 }) { BaseAddress = new Uri($"http://{listeners.ProxyEndPoint}/"), Timeout = TimeSpan.FromSeconds(10) };
        rig.Admin = new HttpClient { BaseAddress = new Uri($"http://{listeners.AdminEndPoint}/"), Timeout = TimeSpan.FromSeconds(10) };
        foreach (var service in Services)
        {
            if (!await WaitUntilAsync(() => rig.ProxyHoldsServerView(service), TimeSpan.FromSeconds(30)))
            {
                throw new InvalidOperationException($"The proxy did not see the initial pods of {service} within 30 s.");
            }
        }

        return rig;
    }

    private async Task ReadRequestsAsync()
    {
        try
        {
            await foreach (var request in Api.Requests.Reader.ReadAllAsync(_stop.Token))
            {
                _requests.Enqueue((Clock.Elapsed, request));
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    public async Task<Pod> StartPodAsync(string service)
    {
        var index = Interlocked.Increment(ref _nextPod);
        return await Pod.StartAsync($"{service}-{index}", $"127.{SecondOctet}.{_octets[service]}.{index}", _ports[service]);
    }

    /// <summary>A deploy in miniature: a new pod replaces the Service's oldest; the old pod stops after <paramref name="afterPublish"/>.</summary>
    /// <returns>The new pod, and when the API server had the change (on <see cref="Clock"/>).</returns>
    public async Task<(Pod New, Pod Old, TimeSpan Changed)> ReplacePodAsync(string service)
    {
        var fresh = await StartPodAsync(service);
        var old = _pods[service][0];
        _pods[service].RemoveAt(0);
        _pods[service].Add(fresh);
        PublishSlice(service);
        var changed = Clock.Elapsed;
        _retired.Add(old);
        return (fresh, old, changed);
    }

    public void PublishSlice(string service) =>
        Api.Apply(Namespace, Slice($"{service}-slice", service, [.. _pods[service].Select(p => new Ep([p.Ip], Ready: true, Serving: true, Terminating: false))], [("http", _ports[service])]));

    public EndpointSource Source(string service) => Discovery.GetSource(Namespace, service, "http");

    /// <summary>Whether the proxy's endpoint source holds exactly the pods the API server has.</summary>
    public bool ProxyHoldsServerView(string service)
    {
        var expected = _pods[service].Select(p => p.Ip).Order(StringComparer.Ordinal);
        var actual = Source(service).Current.Endpoints.Select(e => e.Address.Split(':')[0]).Order(StringComparer.Ordinal);
        return expected.SequenceEqual(actual);
    }

    public static async Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan bound, TimeSpan? every = null)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > bound)
            {
                return false;
            }

            await Task.Delay(every ?? TimeSpan.FromMilliseconds(10));
        }

        return true;
    }

    public async Task<(HttpStatusCode Status, string Body)> AdminAsync(string path)
    {
        try
        {
            using var response = await Admin.GetAsync(path);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return (0, e.Message);
        }
    }

    /// <summary>The <c>freshness</c> of each cluster in <c>/backends</c>.</summary>
    public async Task<Dictionary<string, string>> FreshnessAsync()
    {
        var (status, body) = await AdminAsync("backends");
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (status != HttpStatusCode.OK)
        {
            return result;
        }

        using var json = JsonDocument.Parse(body);
        foreach (var cluster in json.RootElement.GetProperty("clusters").EnumerateArray())
        {
            result[cluster.GetProperty("name").GetString()!] = cluster.GetProperty("freshness").GetString()!;
        }

        return result;
    }

    /// <summary>A sample from <c>/metrics</c> (the first line starting with <paramref name="series"/>), or NaN.</summary>
    public async Task<double> MetricAsync(string series)
    {
        var (status, body) = await AdminAsync("metrics");
        return status == HttpStatusCode.OK ? Metric(body, series) : double.NaN;
    }

    public static double Metric(string metrics, string series)
    {
        foreach (var line in metrics.Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
            {
                var value = line[(series.Length + 1)..].Trim();
                return value switch
                {
                    "+Inf" => double.PositiveInfinity,
                    "NaN" => double.NaN,
                    _ => double.Parse(value, CultureInfo.InvariantCulture),
                };
            }
        }

        return double.NaN;
    }

    public Task<double> ViewAgeAsync() => MetricAsync($"lb_kubernetes_view_age_seconds{{namespace=\"{Namespace}\"}}");

    /// <summary>Confirmations that succeeded (confirmed, drift, caught_up), so far.</summary>
    public async Task<double> SucceededConfirmationsAsync()
    {
        var (status, body) = await AdminAsync("metrics");
        if (status != HttpStatusCode.OK)
        {
            return double.NaN;
        }

        var total = 0.0;
        foreach (var result in new[] { "confirmed", "drift", "caught_up" })
        {
            var value = Metric(body, $"lb_kubernetes_confirmations_total{{namespace=\"{Namespace}\",result=\"{result}\"}}");
            total += double.IsNaN(value) ? 0 : value;
        }

        return total;
    }

    public async Task<double> DriftAsync()
    {
        var value = await MetricAsync($"lb_kubernetes_drift_corrections_total{{namespace=\"{Namespace}\"}}");
        return double.IsNaN(value) ? 0 : value;
    }

    /// <summary>Ends the fault: no further request misbehaves, and every hung request is released (its connection closed).</summary>
    public void ClearFaults() => Api.ClearFaults();

    public int QueuedWatchFaults() => Api.QueuedWatchFaults;

    private static int FreePort(string ip)
    {
        using var listener = new TcpListener(IPAddress.Parse(ip), 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (_bookmarks is not null)
        {
            await _bookmarks.DisposeAsync();
        }

        Client?.Dispose();
        Admin?.Dispose();
        if (App is not null)
        {
            using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
            {
                await App.StopAsync(stop.Token);
            }

            await App.DisposeAsync();
        }

        foreach (var pod in _pods.Values.SelectMany(p => p).Concat(_retired))
        {
            await pod.DisposeAsync();
        }

        ClearFaults();
        await Api.DisposeAsync();
        await _stop.CancelAsync();
        await _reader.WaitAsync(TimeSpan.FromSeconds(5));
        _stop.Dispose();
        if (_configFile is not null)
        {
            File.Delete(_configFile);
        }
    }
}

/// <summary>Polls an admin path at a fixed interval until disposed, keeping every answer.</summary>
internal sealed class Poller : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _disposed;

    public Poller(Rig rig, string path, TimeSpan every)
    {
        _loop = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(every);
            try
            {
                do
                {
                    var (status, body) = await rig.AdminAsync(path);
                    Samples.Enqueue((rig.Clock.Elapsed, status, body));
                }
                while (await timer.WaitForNextTickAsync(_stop.Token));
            }
            catch (OperationCanceledException)
            {
                // Stopped.
            }
        });
    }

    public ConcurrentQueue<(TimeSpan At, HttpStatusCode Status, string Body)> Samples { get; } = new();

    /// <summary>Stops polling; may be called more than once.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync();
        await _loop.WaitAsync(TimeSpan.FromSeconds(15));
        _stop.Dispose();
    }
}

/// <summary>Steady load through the proxy on both Services until stopped; every failure is kept with its reason.</summary>
internal sealed class LoadLoop : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _workers;
    private long _succeeded;

    public LoadLoop(HttpClient client, int workers = 4) =>
        _workers = [.. Enumerable.Range(0, workers).Select(w => Task.Run(() => RunAsync(client, w)))];

    public long Succeeded => Interlocked.Read(ref _succeeded);

    public ConcurrentQueue<string> Failures { get; } = new();

    private async Task RunAsync(HttpClient client, int worker)
    {
        var i = 0;
        while (!_stop.IsCancellationRequested)
        {
            var service = Rig.Services[(worker + i++) % Rig.Services.Length];
            try
            {
                using var response = await client.GetAsync($"/{service}/item/{i}", _stop.Token);
                var body = await response.Content.ReadAsStringAsync(_stop.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref _succeeded);
                }
                else
                {
                    Failures.Enqueue($"{service}: {(int)response.StatusCode} {body.Trim()}");
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                Failures.Enqueue($"{service}: {e.GetType().Name} {e.Message}");
            }
        }
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_workers).WaitAsync(TimeSpan.FromSeconds(30));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        _stop.Dispose();
    }
}
