// Discovery freshness, in real time, with the default Kubernetes options (only the API server named): the real
// ProxyHost against the fake API server (in this process, BOOKMARK every 60 s on open watches) and real pods on
// 127.x.y.z, checked against the targets of "never silently stale, by default":
//   1. a watch that hangs silently, then a deploy: change on the server -> the proxy's endpoint source, 10 runs (<= 20 s);
//   2. recovery after a fault clears (hung watch, API unreachable 90 s, 500s 90 s, 410 on watches): view current,
//      confirmed and ready again (<= 5 s);
//   3. the API server unreachable for N minutes under load: /readyz 200 throughout, "degraded" after StaleAfter, 0 failures;
//   4. the cost of confirmation at 10, 1,000 and 10,000 endpoints: bytes per confirmation, API requests per minute.
// Prints one table; exits 1 if a target is missed.
//
//   dotnet run -c Release --project bench/FreshnessScenarios -- [--quick] [--outage-minutes N]
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using FreshnessScenarios;
using LoadBalancing.Kubernetes;
using LoadBalancing.Kubernetes.Tests.Support;
using static LoadBalancing.Kubernetes.Tests.Support.Slices;

// Up to ten hosts run at once; configuration file watchers poll instead of each taking one of the user's inotify
// instances (128 by default, shared with everything else the user runs).
Environment.SetEnvironmentVariable("DOTNET_USE_POLLING_FILE_WATCHER", "1");
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

var quick = args.Contains("--quick");
var outageMinutes = quick ? 2.0 : 10.0;
var at = Array.IndexOf(args, "--outage-minutes");
if (at >= 0 && at + 1 < args.Length)
{
    outageMinutes = double.Parse(args[at + 1], CultureInfo.InvariantCulture);
}

// The program stops by itself, whatever happens.
var limit = TimeSpan.FromMinutes(outageMinutes + 25);
_ = Task.Delay(limit).ContinueWith(_ =>
{
    Console.Error.WriteLine($"Watchdog: still running after {limit.TotalMinutes:0} min; exiting.");
    Environment.Exit(3);
}, TaskScheduler.Default);

// Ctrl+C or SIGTERM ends the run at once (the hosts inside would otherwise only stop themselves).
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => Environment.Exit(130));
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => Environment.Exit(143));

var total = Stopwatch.StartNew();
Console.WriteLine($"FreshnessScenarios: .NET {Environment.Version}, {Environment.ProcessorCount} cores, {(quick ? "quick" : "full")}, outage {outageMinutes:0.#} min; discovery options: defaults (only ApiServer set).");
var rows = new List<string[]>();
var missed = new List<string>();

void Row(string scenario, string figure, string target, bool? met)
{
    rows.Add([scenario, figure, target, met is null ? "-" : met.Value ? "met" : "MISSED"]);
    if (met == false)
    {
        missed.Add($"{scenario}: {figure} (target {target})");
    }
}

async Task Timed(string name, Func<Task> scenario)
{
    var watch = Stopwatch.StartNew();
    Console.WriteLine($"[{total.Elapsed:mm\\:ss}] {name} ...");
    try
    {
        await scenario();
    }
    catch (Exception e)
    {
        Row(name, $"did not complete: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}", "completes", false);
    }

    Console.WriteLine($"[{total.Elapsed:mm\\:ss}] {name}: {watch.Elapsed.TotalSeconds:0} s");
}

await Timed("1. Hang -> picker", () => HangToPickerAsync(runs: 10));
await Timed("2. Recovery after a fault clears", RecoveryAsync);
await Timed("4. Cost of confirmation", CostAsync);
await Timed($"3. API unreachable {outageMinutes:0.#} min", () => UnreachableAsync(TimeSpan.FromMinutes(outageMinutes)));

Console.WriteLine();
Console.WriteLine($"Discovery freshness (default options; {Environment.ProcessorCount} cores; total {total.Elapsed.TotalMinutes:0.0} min)");
PrintTable(["Scenario", "Figure", "Target", "Result"], rows);
if (missed.Count > 0)
{
    Console.WriteLine();
    Console.WriteLine("Targets missed:");
    foreach (var miss in missed)
    {
        Console.WriteLine("  " + miss);
    }
}

Console.WriteLine($"Total: {total.Elapsed.TotalMinutes:0.0} min");
return missed.Count == 0 ? 0 : 1;

// 1. The watch hangs silently (every watch, however often reopened); a pod is replaced; how long until the proxy has it.
async Task HangToPickerAsync(int runs)
{
    await using var rig = await Rig.StartAsync();
    await using var readiness = new Poller(rig, "readyz", TimeSpan.FromMilliseconds(250));
    for (var i = 0; i < 1000; i++)
    {
        rig.Api.FailNextWatch(Fault.Hang);
    }

    var watchesBefore = rig.Api.WatchCount;
    rig.Api.DropActiveWatches();
    if (!await Rig.WaitUntilAsync(() => rig.Api.WatchCount > watchesBefore, TimeSpan.FromSeconds(30)))
    {
        throw new InvalidOperationException("discovery did not reopen its watch within 30 s");
    }

    var seconds = new List<double>();
    var drift = new List<double>();
    var lastDrift = await rig.DriftAsync();
    for (var run = 0; run < runs; run++)
    {
        // A change lands anywhere in the confirmation cycle.
        await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(500, 10_500)));
        var service = Rig.Services[run % Rig.Services.Length];
        var (fresh, old, changed) = await rig.ReplacePodAsync(service);
        var reached = await Rig.WaitUntilAsync(
            () => rig.Source(service).Current.Endpoints.Any(e => e.Address.StartsWith(fresh.Ip, StringComparison.Ordinal)), TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(5));
        var elapsed = (rig.Clock.Elapsed - changed).TotalSeconds;
        seconds.Add(reached ? elapsed : double.PositiveInfinity);
        await old.DisposeAsync();
        await Task.Delay(500); // the drift counter is incremented once the corrective list is applied
        var nowDrift = await rig.DriftAsync();
        drift.Add(nowDrift - lastDrift);
        lastDrift = nowDrift;
        Console.WriteLine($"    run {run + 1}: {(reached ? $"{elapsed:0.00} s" : "not within 60 s")}, drift +{drift[^1]:0}, hung watch faults still queued: {rig.QueuedWatchFaults()}");
    }

    await readiness.DisposeAsync();
    var polls = readiness.Samples.ToArray();
    var notReady = polls.Count(p => p.Status != HttpStatusCode.OK);
    var sorted = seconds.Order().ToArray();
    Row("1. Hang -> picker (10 runs)", $"min {sorted[0]:0.0} s, median {Median(sorted):0.0} s, max {sorted[^1]:0.0} s", "<= 20 s every run", sorted[^1] <= 20);
    Row("1. Hang: /readyz during the runs", $"{polls.Length - notReady}/{polls.Length} polls 200 (every 250 ms)", "200 throughout", notReady == 0);
    Row("1. Hang: drift corrections per run", string.Join(", ", drift.Select(d => d.ToString("0", CultureInfo.InvariantCulture))), "counted", null);
}

// 2. Four faults, each on its own rig, at the same time; each held, then cleared; how long until current, confirmed, ready.
async Task RecoveryAsync()
{
    var hold = TimeSpan.FromSeconds(90);
    bool[] Variants = [true, false];
    var faults = new (string Name, Action<Rig> Start, Action<Rig> Clear)[]
    {
        ("hung watch", rig =>
        {
            for (var i = 0; i < 1000; i++)
            {
                rig.Api.FailNextWatch(Fault.Hang);
            }

            rig.Api.DropActiveWatches();
        }, rig => rig.ClearFaults()),
        ("API unreachable 90 s", rig =>
        {
            rig.Api.Down = true;
            rig.Api.DropActiveWatches();
        }, rig => rig.Api.Down = false),
        ("500 on every request 90 s", rig =>
        {
            for (var i = 0; i < 100_000; i++)
            {
                rig.Api.FailNextWatch(Fault.ServerError);
            }

            rig.Api.FailNextList(Fault.ServerError, 100_000);
            rig.Api.DropActiveWatches();
        }, rig => rig.ClearFaults()),
        ("410 on every watch", rig =>
        {
            for (var i = 0; i < 100_000; i++)
            {
                rig.Api.FailNextWatch(Fault.Expire);
            }

            rig.Api.DropActiveWatches();
        }, rig => rig.ClearFaults()),
    };

    // Each fault twice: with a deploy during it (the proxy's view is behind when it clears) and with no change during it.
    var results = await Task.WhenAll(faults.SelectMany(f => Variants.Select(deploy => RecoverOnceAsync(f.Name, hold, f.Start, f.Clear, deploy))));
    foreach (var r in results)
    {
        Row($"2. Recovery: {r.Name}",
            $"{(double.IsFinite(r.Recovered) ? $"{r.Recovered:0.00} s" : "not within 60 s")} to current+confirmed+ready (first watch after clearing at {(double.IsNaN(r.WatchBack) ? "> 45" : r.WatchBack.ToString("0.0", CultureInfo.InvariantCulture))} s; during the fault: {r.During})",
            "<= 5 s", r.Recovered <= 5);
    }
}

async Task<(string Name, double Recovered, double WatchBack, string During)> RecoverOnceAsync(string fault, TimeSpan hold, Action<Rig> start, Action<Rig> clear, bool deploy)
{
    var name = $"{fault}, {(deploy ? "deploy during it" : "no change during it")}";
    try
    {
        return await RecoverOnceCoreAsync(name, hold, start, clear, deploy);
    }
    catch (Exception e)
    {
        Console.WriteLine($"    {name}: did not complete: {e.GetType().Name}: {e.Message}");
        return (name, double.PositiveInfinity, double.NaN, $"did not complete: {e.GetType().Name}: {e.Message}");
    }
}

async Task<(string Name, double Recovered, double WatchBack, string During)> RecoverOnceCoreAsync(string name, TimeSpan hold, Action<Rig> start, Action<Rig> clear, bool deploy)
{
    await using var rig = await Rig.StartAsync();
    await using var readiness = new Poller(rig, "readyz", TimeSpan.FromMilliseconds(250));
    await Task.Delay(TimeSpan.FromSeconds(Random.Shared.Next(1, 10)));
    start(rig);
    var began = rig.Clock.Elapsed;

    // During the fault: a deploy the proxy must pick up; /backends sampled every second.
    string? worst = null;
    double leftCurrentAt = double.NaN;
    var deployed = !deploy;
    while (rig.Clock.Elapsed - began < hold)
    {
        if (!deployed && rig.Clock.Elapsed - began > TimeSpan.FromSeconds(5))
        {
            await rig.ReplacePodAsync("checkout");
            deployed = true;
        }

        var freshness = await rig.FreshnessAsync();
        foreach (var f in freshness.Values.Where(f => f != "current"))
        {
            worst ??= f;
            if (double.IsNaN(leftCurrentAt))
            {
                leftCurrentAt = (rig.Clock.Elapsed - began).TotalSeconds;
            }
        }

        await Task.Delay(1000);
    }

    var faultPolls = readiness.Samples.Where(s => s.At >= began).ToArray();
    var readyDuring = faultPolls.Count(p => p.Status == HttpStatusCode.OK);
    var firstDegraded = faultPolls.FirstOrDefault(p => p.Body.Contains("degraded", StringComparison.Ordinal));

    var confirmationsBefore = await rig.SucceededConfirmationsAsync();
    clear(rig);
    var cleared = rig.Clock.Elapsed;
    var recovered = double.PositiveInfinity;
    var trace = new System.Text.StringBuilder();
    while (rig.Clock.Elapsed - cleared < TimeSpan.FromSeconds(60))
    {
        var since = (rig.Clock.Elapsed - cleared).TotalSeconds;
        var freshness = await rig.FreshnessAsync();
        var (status, body) = await rig.AdminAsync("readyz");
        var age = await rig.ViewAgeAsync();
        var confirmations = await rig.SucceededConfirmationsAsync();
        var holds = Rig.Services.All(rig.ProxyHoldsServerView);

        // Confirmed: by a confirmation that succeeded after the fault cleared (the fault failed every one before it; its
        // view age counts from when it began, which may be seconds before the clearing), or (a fault confirmations never
        // felt) as often as a healthy view is.
        var confirmed = confirmations > confirmationsBefore || (double.IsNaN(leftCurrentAt) && age <= Rig.HealthyViewAge.TotalSeconds);
        trace.Append(CultureInfo.InvariantCulture, $"[{since:0.00} s: {string.Join('/', freshness.Values)}, readyz {(int)status}{(body.Contains("degraded", StringComparison.Ordinal) ? " degraded" : "")}, age {age:0.0}, confirmations +{confirmations - confirmationsBefore:0}, {(holds ? "holds the view" : "behind")}] ");
        if (freshness.Count == Rig.Services.Length && freshness.Values.All(f => f == "current")
            && status == HttpStatusCode.OK && !body.Contains("degraded", StringComparison.Ordinal)
            && confirmed && holds)
        {
            recovered = since;
            break;
        }

        await Task.Delay(250);
    }

    if (recovered > 5)
    {
        // What each poll saw, so a missed target says which condition held it back.
        Console.WriteLine($"    {name}, polls after clearing: {trace}");
    }

    // When discovery opened its first watch after the clearing (its own backoff, up to 30 s at the defaults), bounded.
    bool WatchedSince() => rig.Requests.Any(r => r.Request.Watch && r.At >= cleared);
    await Rig.WaitUntilAsync(WatchedSince, TimeSpan.FromSeconds(45), TimeSpan.FromMilliseconds(100));
    var watchBack = rig.Requests.Where(r => r.Request.Watch && r.At >= cleared).Select(r => (r.At - cleared).TotalSeconds).DefaultIfEmpty(double.NaN).First();
    var during = (worst is null ? "freshness current throughout" : $"{worst} from {leftCurrentAt:0} s")
        + $", /readyz 200 {readyDuring}/{faultPolls.Length}"
        + (firstDegraded.Body is null ? "" : $", degraded from {(firstDegraded.At - began).TotalSeconds:0} s");
    Console.WriteLine($"    {name}: recovered {recovered:0.00} s after clearing; watch reopened {watchBack:0.0} s; {during}");
    return (name, recovered, watchBack, during);
}

// 3. The API server unreachable for a long while, under load to pods that stay up.
async Task UnreachableAsync(TimeSpan outage)
{
    await using var rig = await Rig.StartAsync();
    await using var load = new LoadLoop(rig.Client, workers: 4);
    await Task.Delay(2000);
    var before = load.Succeeded;
    var confirmedBefore = rig.Discovery.Freshness.Max(f => f.ViewAge).TotalSeconds; // the view's age when the API server goes away
    rig.Api.Down = true;
    rig.Api.DropActiveWatches();
    var began = rig.Clock.Elapsed;
    var polls = 0;
    var notReady = 0;
    double degradedAt = double.NaN;
    using (var timer = new PeriodicTimer(TimeSpan.FromSeconds(1)))
    {
        while (rig.Clock.Elapsed - began < outage && await timer.WaitForNextTickAsync())
        {
            var (status, body) = await rig.AdminAsync("readyz");
            polls++;
            if (status != HttpStatusCode.OK)
            {
                notReady++;
            }

            if (double.IsNaN(degradedAt) && body.Contains("degraded", StringComparison.Ordinal))
            {
                degradedAt = (rig.Clock.Elapsed - began).TotalSeconds;
            }

            if (polls % 60 == 0)
            {
                Console.WriteLine($"    {polls / 60} min: {load.Succeeded - before} requests, {load.Failures.Count} failed, /readyz non-200 {notReady}");
            }
        }
    }

    var requests = load.Succeeded - before + load.Failures.Count;
    rig.Api.Down = false;
    var back = rig.Clock.Elapsed;
    var recovered = await Rig.WaitUntilAsync(() =>
        rig.Discovery.Freshness.All(f => f.Status == ViewStatus.Current && f.ViewAge < rig.Clock.Elapsed - back), TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(100));
    var recoveredIn = (rig.Clock.Elapsed - back).TotalSeconds;
    await load.StopAsync();
    var failures = load.Failures.ToArray();
    var label = $"3. API unreachable {outage.TotalMinutes:0.#} min";
    Row($"{label}: /readyz", $"{polls - notReady}/{polls} polls 200 (every 1 s)", "200 throughout", notReady == 0 && polls > 0);
    // StaleAfter counts from the last confirmation, which preceded the outage by up to ConfirmInterval.
    var unconfirmed = degradedAt + confirmedBefore;
    Row($"{label}: degraded shown", double.IsNaN(degradedAt) ? "never" : $"{degradedAt:0} s after the API server went away ({unconfirmed:0.0} s after the last confirmation)", "once unconfirmed > StaleAfter (60 s), polled 1/s", !double.IsNaN(degradedAt) && unconfirmed >= 60 && unconfirmed <= 66);
    Row($"{label}: requests (4 workers)", $"{requests:N0} requests, {failures.Length} failed{(failures.Length == 0 ? "" : ": " + string.Join(" | ", failures.Take(3)))}", "0 failed", failures.Length == 0 && requests > 0);
    Row($"{label}: after its return", recovered ? $"confirmed and current {recoveredIn:0.0} s after" : "not within 60 s", "<= 5 s", recovered && recoveredIn <= 5);
}

// 4. What confirmation costs: bytes per metadata-only list vs a full list, and API requests per minute, per size.
async Task CostAsync()
{
    var sizes = new[] { 10, 1_000, 10_000 };
    var bytes = new System.Collections.Concurrent.ConcurrentDictionary<string, (long Bytes, int Count)>(StringComparer.Ordinal);
    using var listener = new MeterListener();
    listener.InstrumentPublished = (instrument, l) =>
    {
        if (instrument.Meter.Name == "LoadBalancing.Kubernetes" && instrument.Name == "lb.kubernetes.confirmation.bytes")
        {
            l.EnableMeasurementEvents(instrument);
        }
    };
    listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
    {
        foreach (var tag in tags)
        {
            if (tag.Key == "namespace" && tag.Value is string ns)
            {
                bytes.AddOrUpdate(ns, (value, 1), (_, b) => (b.Bytes + value, b.Count + 1));
            }
        }
    });
    listener.Start();

    var results = await Task.WhenAll(sizes.Select(size => CostOnceAsync(size, bytes)));
    foreach (var r in results)
    {
        Row($"4. Confirmation cost, {r.Endpoints:N0} endpoints ({r.Slices} slices)",
            $"{r.PerConfirmation:N0} B per confirmation ({r.Confirmations} read; metadata list measured directly {r.Metadata:N0} B) vs full list {r.Full:N0} B ({100.0 * r.Metadata / r.Full:0.0}%); " +
            $"{r.ConfirmsPerMinute:0.0} confirmations/min + 1 open watch ({r.Lists} lists, {r.Watches} new watches in 65 s); {r.PerConfirmation * r.ConfirmsPerMinute / 1024.0:N1} KiB/min of confirmation reads",
            "about 6 confirmations/min + the watch", r.ConfirmsPerMinute <= 6.5 && r.Lists == 0 && r.Watches <= 1);
    }
}

async Task<(int Endpoints, int Slices, double PerConfirmation, int Confirmations, long Metadata, long Full, double ConfirmsPerMinute, int Lists, int Watches)> CostOnceAsync(
    int endpoints, System.Collections.Concurrent.ConcurrentDictionary<string, (long Bytes, int Count)> bytes)
{
    var ns = $"cost-{endpoints}";
    const int PerSlice = 100;
    var slices = (endpoints + PerSlice - 1) / PerSlice;
    await using var server = await FakeApiServer.StartAsync();
    for (var s = 0; s < slices; s++)
    {
        var count = Math.Min(PerSlice, endpoints - (s * PerSlice));
        server.Apply(ns, Slice($"big-{s:D3}", "big", [.. Enumerable.Range(0, count).Select(i => new Ep([$"10.{s / 250}.{s % 250}.{i + 1}"], Ready: true, Serving: true, Terminating: false))], [("http", 8080)]));
    }

    // The sizes of what a confirmation reads and what a full list reads, straight from the server.
    using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
    var url = $"{server.Url}/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name";
    using var metadataRequest = new HttpRequestMessage(HttpMethod.Get, url);
    metadataRequest.Headers.Accept.Add(MediaTypeWithQualityHeaderValue.Parse("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"));
    using var metadataResponse = await http.SendAsync(metadataRequest);
    var metadata = (await metadataResponse.Content.ReadAsByteArrayAsync()).LongLength;
    var full = (await http.GetByteArrayAsync(new Uri(url))).LongLength;

    // Discovery with its default options following the Service; a BOOKMARK every 60 s; one minute of its requests.
    using var bookmarks = new Timer(_ => server.Bookmark(ns), null, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60));
    var options = new KubernetesDiscoveryOptions { ApiServer = server.Url };
    options.Services.Add(new ServiceReference { Namespace = ns, Name = "big", Port = "http" });
    await using var discovery = new KubernetesDiscovery(options);
    using (var starting = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
    {
        await discovery.StartAsync(starting.Token);
        await discovery.WaitForSyncAsync(starting.Token);
    }

    while (server.Requests.Reader.TryRead(out _))
    {
        // Forget the start-up list and first watch.
    }

    var confirms = 0;
    var lists = 0;
    var watches = 0;
    var confirmedAt = new List<double>();
    var window = Stopwatch.StartNew();
    using (var minute = new CancellationTokenSource(TimeSpan.FromSeconds(65)))
    {
        try
        {
            await foreach (var request in server.Requests.Reader.ReadAllAsync(minute.Token))
            {
                if (request.Watch)
                {
                    watches++;
                }
                else if (request.MetadataOnly)
                {
                    confirms++;
                    confirmedAt.Add(window.Elapsed.TotalSeconds);
                }
                else
                {
                    lists++;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The window is over.
        }
    }

    // Confirmations per minute from their mean interval (each begins ConfirmInterval after the previous one ended).
    var perMinute = confirmedAt.Count < 2 ? double.NaN : 60 * (confirmedAt.Count - 1) / (confirmedAt[^1] - confirmedAt[0]);
    var read = bytes.GetValueOrDefault(ns);
    var perConfirmation = read.Count == 0 ? double.NaN : (double)read.Bytes / read.Count;
    Console.WriteLine($"    {endpoints} endpoints: {perConfirmation:N0} B per confirmation over {read.Count}; direct {metadata:N0} B metadata, {full:N0} B full; in 65 s {confirms} confirmations ({perMinute:0.0}/min), {lists} lists, {watches} new watches");
    return (endpoints, slices, perConfirmation, read.Count, metadata, full, perMinute, lists, watches);
}

static double Median(double[] sorted) => sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;

static void PrintTable(string[] header, List<string[]> rows)
{
    var widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
    string Line(string[] cells) => "| " + string.Join(" | ", cells.Select((c, i) => c.PadRight(widths[i]))) + " |";
    Console.WriteLine(Line(header));
    Console.WriteLine("|" + string.Join("|", widths.Select(w => new string('-', w + 2))) + "|");
    foreach (var row in rows)
    {
        Console.WriteLine(Line(row));
    }
}

