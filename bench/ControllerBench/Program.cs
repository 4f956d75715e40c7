// The Gateway API controller end to end on loopback, against the test API server (same process): how long an HTTPRoute
// change takes to be in service, and whether requests on another route fail while routes change.
//
//   dotnet run -c Release --project bench/ControllerBench [-- changes]      (default 200 changes per scenario)
//
// Two scenarios, each with a fresh API server and proxy: the two routes measured alone, and the same with 1,000 more
// HTTPRoutes (100 namespaces x 10, two rules each, 1,000 Services of 5 endpoints) so every rebuild translates and
// applies them all. In each, one HTTPRoute's backend is flipped between two Services `changes` times; the latency of
// a change runs from the Apply on the API server until a request through the proxy reaches the new backend (a tight
// loop of requests), so it includes the watch event's delivery, the controller's 50 ms coalescing window, translation,
// publish, the runtime's apply and the snapshot swap. Meanwhile four loops send requests on another route of the same
// proxy and count failures (non-2xx, a wrong body, or an exception). The controller's and the runtime's log lines
// ("publishing", "in service") split each change into: event to publish, the runtime's apply, swap to first request.
//
// Targets: p99 <= 1 s, 0 failed requests. Exit code 0 when both hold in every scenario; 1 when one is missed (or a
// scenario could not finish its changes in time); 2 when the set-up failed. The whole run is bounded (170 s).
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static LoadBalancing.Kubernetes.Tests.Support.Objects;

var changes = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200;
var budget = TimeSpan.FromSeconds(170);
var runDeadline = Stopwatch.GetTimestamp() + (long)(budget.TotalSeconds * Stopwatch.Frequency);

// The backstop: whatever hangs, the process ends within the budget (plus a few seconds to stop).
using var backstop = new Timer(_ =>
{
    Console.WriteLine($"TIME BOUND: the run did not finish in {budget.TotalSeconds + 10:F0} s; exiting.");
    Environment.Exit(2);
}, null, budget + TimeSpan.FromSeconds(10), Timeout.InfiniteTimeSpan);

Console.WriteLine($".NET {Environment.Version}, {Environment.ProcessorCount} cores, server GC: {System.Runtime.GCSettings.IsServerGC}; {changes} changes per scenario");
var ok = true;
try
{
    ok &= await Bench.RunAsync("2 HTTPRoutes", fillers: 0, changes, runDeadline);
    ok &= await Bench.RunAsync("1,002 HTTPRoutes (5,000 endpoints)", fillers: 1_000, changes, runDeadline);
}
catch (Exception e) when (e is TimeoutException or OperationCanceledException or InvalidOperationException or HttpRequestException)
{
    Console.WriteLine($"SET-UP FAILED: {e.GetType().Name}: {e.Message}");
    return 2;
}

Console.WriteLine(ok ? "RESULT: targets met" : "RESULT: a target was missed");
return ok ? 0 : 1;

internal static class Bench
{
    private const string Controller = "loadbalancing.dev/gateway-controller";
    private const string Ns = "bench";
    private const int LoadLoops = 4;
    private static readonly TimeSpan ChangeBound = TimeSpan.FromSeconds(5);

    public static async Task<bool> RunAsync(string name, int fillers, int changes, long runDeadline)
    {
        Console.WriteLine();
        Console.WriteLine($"## {name}");
        using var setUp = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var blue = await Backend.StartAsync("blue", "127.0.0.41");
        await using var green = await Backend.StartAsync("green", "127.0.0.42");
        await using var steady = await Backend.StartAsync("load", "127.0.0.43");
        await using var server = await FakeApiServer.StartAsync();

        server.Apply(ApiResource.GatewayClasses, GatewayClass("lb", Controller));
        server.Apply(ApiResource.Gateways, Objects.Gateway("gw", "lb", [new Listener("http", 80, AllowedRoutes: new AllowedRoutes("All"))], ns: "infra"));
        foreach (var backend in new[] { blue, green, steady })
        {
            server.Apply(ApiResource.Services, Service(backend.Name, [new ServicePort("http", 80, backend.Port)], Ns));
            server.Apply(Ns, Slices.Slice($"{backend.Name}-1", backend.Name, [new Slices.Ep([backend.Ip])], [("http", backend.Port)]));
        }

        server.Apply(ApiResource.HttpRoutes, Route("steady", "load.test", "load"));
        server.Apply(ApiResource.HttpRoutes, Route("flip", "flip.test", "blue"));
        var setUpClock = Stopwatch.StartNew();
        Fillers(server, fillers);
        Console.WriteLine($"objects applied: {fillers + 2} HTTPRoutes, {fillers + 3} Services ({setUpClock.ElapsedMilliseconds} ms)");

        var log = new LogCapture();
        await using var proxy = await ProxyHost.StartAsync(server.Url, log);
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
        var proxyUrl = $"http://{proxy.EndPoint}/";
        await UntilAsync(async () => await BodyAsync(client, proxyUrl, "load.test") == "load" && await BodyAsync(client, proxyUrl, "flip.test") == "blue", setUp.Token);
        Console.WriteLine($"routes in service {setUpClock.ElapsedMilliseconds} ms after the objects");
        if (fillers > 0)
        {
            // The status of 1,000 routes is written after the first publish: let it settle so it does not overlap the changes.
            var last = $"route-{FillerRoutesPerNamespace - 1}";
            var settled = await UntilQuietAsync(() => server.Get(ApiResource.HttpRoutes, FillerNs(fillers / FillerRoutesPerNamespace - 1), last)?["status"] is not null, TimeSpan.FromSeconds(30));
            Console.WriteLine(settled ? $"route status written ({setUpClock.ElapsedMilliseconds} ms)" : "route status not all written after 30 s; measuring anyway");
        }

        // The load on the other route, until the changes are done.
        using var stopLoad = new CancellationTokenSource();
        var load = new LoadCounters();
        var loops = Enumerable.Range(0, LoadLoops).Select(_ => Task.Run(() => LoadLoopAsync(client, proxyUrl, load, stopLoad.Token))).ToArray();

        var latencies = new List<double>(changes);
        var toPublish = new List<double>();
        var apply = new List<double>();
        var toSeen = new List<double>();
        var probeFailures = 0;
        var probes = 0L;
        var missed = 0;
        var random = new Random(17);
        var current = "blue";
        for (var i = 0; i < changes; i++)
        {
            if (Stopwatch.GetTimestamp() > runDeadline - (long)(ChangeBound.TotalSeconds * 2 * Stopwatch.Frequency))
            {
                Console.WriteLine($"TIME BOUND: stopped after {i} of {changes} changes");
                missed += changes - i;
                break;
            }

            // A gap that is not a multiple of the coalescing window, so changes land anywhere in it.
            await Task.Delay(20 + random.Next(50));
            var target = current == "blue" ? "green" : "blue";
            var started = Stopwatch.GetTimestamp();
            server.Apply(ApiResource.HttpRoutes, Route("flip", "flip.test", target));
            var seen = false;
            while (Stopwatch.GetElapsedTime(started) < ChangeBound)
            {
                probes++;
                var body = await BodyAsync(client, proxyUrl, "flip.test");
                if (body == target)
                {
                    seen = true;
                    break;
                }

                if (body != current)
                {
                    probeFailures++;
                }
            }

            var ended = Stopwatch.GetTimestamp();
            current = target;
            if (!seen)
            {
                missed++;
                latencies.Add(ChangeBound.TotalMilliseconds);
                continue;
            }

            latencies.Add(Ms(started, ended));
            if (log.After("publishing", started) is { } published && log.After("in service", published) is { } applied && applied <= ended)
            {
                toPublish.Add(Ms(started, published));
                apply.Add(Ms(published, applied));
                toSeen.Add(Ms(applied, ended));
            }
        }

        await stopLoad.CancelAsync();
        await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(10));

        Console.WriteLine($"changes: {latencies.Count} measured, {missed} not seen within {ChangeBound.TotalSeconds:F0} s or not run");
        Console.WriteLine($"change in service (Apply -> first request on the new backend): {Percentiles(latencies)}");
        Console.WriteLine($"  event -> publishing (watch delivery, 50 ms coalescing, rebuild): {Percentiles(toPublish)}");
        Console.WriteLine($"  publishing -> in service (runtime: merge, validate, plan, commit, swap):     {Percentiles(apply)}");
        Console.WriteLine($"  in service -> seen (the next probe request):                                {Percentiles(toSeen)}");
        Console.WriteLine($"  ({toPublish.Count} of {latencies.Count} changes split from the log lines)");
        Console.WriteLine($"probe requests on the changing route: {probes}, failed (neither the old nor the new backend): {probeFailures}");
        Console.WriteLine($"load requests on the other route: {load.Total}, failed: {load.Failed}{(load.FirstFailure is { } f ? $" (first: {f})" : "")}");
        Console.WriteLine($"proxy warnings and errors logged: {log.Warnings}{(log.FirstWarning is { } w ? $" (first: {w})" : "")}");

        var p99 = latencies.Count == 0 ? double.MaxValue : Percentile(latencies, 0.99);
        var met = missed == 0 && p99 <= 1_000 && load.Failed == 0 && probeFailures == 0;
        Console.WriteLine(met ? "targets met" : $"TARGET MISSED: p99 {p99:F0} ms (<= 1000), missed changes {missed}, failed load requests {load.Failed}, failed probes {probeFailures}");
        return met;
    }

    private const int FillerRoutesPerNamespace = 10;

    private static string FillerNs(int n) => string.Create(CultureInfo.InvariantCulture, $"ns-{n:D2}");

    /// <summary>The 1,000 HTTPRoutes of the in-process benchmark (GatewayFixtures): their Services have 5 endpoints each on 10.x addresses nothing calls.</summary>
    private static void Fillers(FakeApiServer server, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var (n, r) = (i / FillerRoutesPerNamespace, i % FillerRoutesPerNamespace);
            var ns = FillerNs(n);
            var service = string.Create(CultureInfo.InvariantCulture, $"svc-{r}");
            server.Apply(ApiResource.Services, Service(service, [new ServicePort("http", 80, 8080)], ns));
            server.Apply(ns, Slices.Slice($"{service}-1", service, [.. Enumerable.Range(1, 5).Select(e => new Slices.Ep([string.Create(CultureInfo.InvariantCulture, $"10.{n}.{r}.{e}")]))], [("http", 8080)]));
            var backend = new BackendRef(service, 80);
            server.Apply(ApiResource.HttpRoutes, HttpRoute(
                string.Create(CultureInfo.InvariantCulture, $"route-{r}"),
                [new ParentRef("gw", Namespace: "infra")],
                [
                    new RouteRule([new RouteMatch("/api")], [backend], [RequestHeaderModifier(set: new Dictionary<string, string> { ["X-Variant"] = "0" })]),
                    new RouteRule([new RouteMatch("/")], [backend]),
                ],
                hostnames: [string.Create(CultureInfo.InvariantCulture, $"r{r}.{ns}.example")],
                ns: ns));
        }
    }

    private static JsonObject Route(string name, string host, string service) =>
        HttpRoute(name, [new ParentRef("gw", Namespace: "infra")], [new RouteRule(BackendRefs: [new BackendRef(service, 80)])], hostnames: [host], ns: Ns);

    private static async Task<string?> BodyAsync(HttpClient client, string url, string host)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Host = host;
            using var response = await client.SendAsync(request);
            return response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync() : $"HTTP {(int)response.StatusCode}";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return e.GetType().Name;
        }
    }

    private static async Task LoadLoopAsync(HttpClient client, string url, LoadCounters counters, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var body = await BodyAsync(client, url, "load.test");
            counters.Count(body == "load" ? null : body);
        }
    }

    private static async Task UntilAsync(Func<Task<bool>> check, CancellationToken bound)
    {
        while (!await check())
        {
            await Task.Delay(50, bound);
        }
    }

    private static async Task<bool> UntilQuietAsync(Func<bool> check, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < bound)
        {
            if (check())
            {
                return true;
            }

            await Task.Delay(100);
        }

        return false;
    }

    private static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }

    private static string Percentiles(List<double> values) => values.Count == 0
        ? "n/a"
        : string.Create(CultureInfo.InvariantCulture, $"p50 {Percentile(values, 0.5):F1} ms, p99 {Percentile(values, 0.99):F1} ms, max {values.Max():F1} ms (n={values.Count})");
}

/// <summary>Requests on the steady route: how many, how many failed, and the first failure.</summary>
internal sealed class LoadCounters
{
    private long _total;
    private long _failed;
    private string? _first;

    public long Total => Interlocked.Read(ref _total);

    public long Failed => Interlocked.Read(ref _failed);

    public string? FirstFailure => Volatile.Read(ref _first);

    public void Count(string? failure)
    {
        Interlocked.Increment(ref _total);
        if (failure is not null)
        {
            Interlocked.Increment(ref _failed);
            Interlocked.CompareExchange(ref _first, failure, null);
        }
    }
}

/// <summary>A Kestrel server on a loopback address standing in for a pod: answers 200 with its name.</summary>
internal sealed class Backend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private Backend(WebApplication app, string name, string ip, int port)
    {
        _app = app;
        Name = name;
        Ip = ip;
        Port = port;
    }

    public string Name { get; }

    public string Ip { get; }

    public int Port { get; }

    public static async Task<Backend> StartAsync(string name, string ip)
    {
        var port = FreePort.On(IPAddress.Parse(ip));
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Parse(ip), port));
        var app = builder.Build();
        app.Run(context => context.Response.WriteAsync(name));
        await app.StartAsync();
        return new Backend(app, name, ip, port);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>
/// The proxy embedded as an application embeds it (as the tests' ControllerHost does): configured through its
/// <c>Proxy</c> and <c>Kubernetes</c> sections, the Gateway controller on, Gateway listener port 80 mapped to its own port.
/// </summary>
internal sealed class ProxyHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ProxyHost(WebApplication app, string endPoint)
    {
        _app = app;
        EndPoint = endPoint;
    }

    public string EndPoint { get; }

    public static async Task<ProxyHost> StartAsync(string apiServer, LogCapture log)
    {
        var port = FreePort.On(IPAddress.Loopback);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Proxy:Listeners:0:Url"] = $"http://127.0.0.1:{port}",
            ["Proxy:Admin:Url"] = "http://127.0.0.1:0",
            ["Kubernetes:ApiServer"] = apiServer,
            ["Kubernetes:Gateway:Enabled"] = "true",
            ["Kubernetes:Gateway:ListenerPorts:80"] = port.ToString(CultureInfo.InvariantCulture),
            ["Kubernetes:Status:Addresses:0"] = "203.0.113.9",
        }).Build();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(log);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("LoadBalancing.Proxy.Kubernetes.Gateway", LogLevel.Information);
        builder.Logging.AddFilter("LoadBalancing.Proxy.Configuration", LogLevel.Information);
        var options = ProxyConfiguration.Load(configuration.GetSection("Proxy"));
        builder.Services.AddLoadBalancingProxy(options).UseKubernetesDiscovery(configuration.GetSection("Kubernetes"));
        builder.WebHost.UseLoadBalancingProxyListeners(options);
        var app = builder.Build();
        app.UseLoadBalancingProxy();
        await app.StartAsync();
        return new ProxyHost(app, $"127.0.0.1:{port}");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

internal static class FreePort
{
    public static int On(IPAddress address)
    {
        using var probe = new TcpListener(address, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}

/// <summary>When the controller logged "publishing" and the runtime "in service"; warnings and errors counted.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<(long At, string Message)> _lines = new();
    private long _warnings;
    private string? _firstWarning;

    public long Warnings => Interlocked.Read(ref _warnings);

    public string? FirstWarning => Volatile.Read(ref _firstWarning);

    /// <summary>The time of the first line containing <paramref name="text"/> logged at or after <paramref name="from"/>.</summary>
    public long? After(string text, long from)
    {
        foreach (var (at, message) in _lines)
        {
            if (at >= from && message.Contains(text, StringComparison.Ordinal))
            {
                return at;
            }
        }

        return null;
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture capture, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var at = Stopwatch.GetTimestamp();
            var message = formatter(state, exception);
            if (logLevel >= LogLevel.Warning)
            {
                Interlocked.Increment(ref capture._warnings);
                Interlocked.CompareExchange(ref capture._firstWarning, $"{category}: {message}", null);
                return;
            }

            if (message.Contains("publishing", StringComparison.Ordinal) || message.Contains("in service", StringComparison.Ordinal))
            {
                capture._lines.Enqueue((at, message));
            }
        }
    }
}
