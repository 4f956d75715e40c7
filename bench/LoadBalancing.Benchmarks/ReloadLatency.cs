using System.Diagnostics;
using System.Globalization;
using LoadBalancing.Proxy;

namespace LoadBalancing.Benchmarks;

/// <summary>
/// <c>-- reload-latency</c>: what a request's route look-up costs while reloads run on another thread. One thread does
/// what the middleware does per request (reads <c>ProxyRuntime.Config</c> once and matches a route), timing each look-up;
/// first with no reloads, then while another thread reloads the 1,000-route, 100-cluster configuration back to back.
/// </summary>
public static class ReloadLatency
{
    public static void Run(TextWriter output, TimeSpan phase, LoadBalancingAlgorithm algorithm = LoadBalancingAlgorithm.RoundRobin)
    {
        var start = ReloadFixtures.Options(algorithm);
        var changed = ReloadFixtures.Options(algorithm, routeVariant: 1, clusterVariant: 1);
        using var runtime = ReloadFixtures.Runtime(start);
        var requests = RouteFixtures.Requests(RouteRequest.Mixed, ReloadFixtures.Routes);

        output.WriteLine($"{Environment.ProcessorCount} processors, {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC, {phase.TotalSeconds:F0} s per phase, {algorithm} clusters");
        output.WriteLine("| phase | look-ups | p50 | p99 | p99.9 | p99.99 | max | reloads | reload median | reload max | gen0/1/2 collections | GC pauses in all |");
        output.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        Measure(output, "warm-up (not reported)", runtime, requests, phase / 2, reload: null, print: false);
        Measure(output, "no reloads", runtime, requests, phase, reload: null, print: true);
        var next = 0;
        Measure(output, "reloads back to back (every cluster and one route changed)", runtime, requests, phase, reload: () =>
        {
            var result = runtime.Reload(++next % 2 == 1 ? changed : start, [], "bench");
            if (result.Outcome != ReloadOutcome.Applied)
            {
                throw new InvalidOperationException($"reload {result.Outcome}: {string.Join("; ", result.Errors)}");
            }
        }, print: true);
    }

    private static void Measure(TextWriter output, string name, ProxyRuntime runtime, Microsoft.AspNetCore.Http.HttpRequest[] requests, TimeSpan duration, Action? reload, bool print)
    {
        // A histogram of 10 ns buckets up to 100 µs, and the rare longer look-ups kept whole: nothing allocated while timing.
        var buckets = new long[10_000];
        var slow = new List<double>(10_000);
        long count = 0;
        var reloadTimes = new List<double>();
        var gc = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
        var paused = GC.GetTotalPauseDuration();
        using var stop = new CancellationTokenSource();
        var reloader = reload is null ? null : new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                var t = Stopwatch.GetTimestamp();
                reload();
                reloadTimes.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }
        }) { IsBackground = true, Name = "reloader" };
        reloader?.Start();

        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var i = 0;
        var sink = 0;
        while (true)
        {
            var t0 = Stopwatch.GetTimestamp();
            if (t0 >= end)
            {
                break;
            }

            sink += runtime.Config.Routes.Match(requests[i++ & 15])?.Index ?? 0; // what ProxyMiddleware does per request
            var ns = (Stopwatch.GetTimestamp() - t0) * 1e9 / Stopwatch.Frequency;
            count++;
            if (ns < 100_000)
            {
                buckets[(int)(ns / 10)]++;
            }
            else
            {
                slow.Add(ns);
            }
        }

        stop.Cancel();
        reloader?.Join();
        GC.KeepAlive(sink);
        if (!print)
        {
            return;
        }

        slow.Sort();
        reloadTimes.Sort();
        string Ns(double q)
        {
            var rank = (long)(q * count);
            for (var b = 0; b < buckets.Length; b++)
            {
                rank -= buckets[b];
                if (rank < 0)
                {
                    return Format((b + 1) * 10.0); // the bucket's upper bound
                }
            }

            return Format(slow[(int)Math.Min(slow.Count - 1, rank)]);
        }

        var max = slow.Count > 0 ? slow[^1] : (Array.FindLastIndex(buckets, b => b > 0) + 1) * 10.0;
        var collections = string.Create(CultureInfo.InvariantCulture,
            $"{GC.CollectionCount(0) - gc.Item1}/{GC.CollectionCount(1) - gc.Item2}/{GC.CollectionCount(2) - gc.Item3} | {(GC.GetTotalPauseDuration() - paused).TotalMilliseconds:F1} ms");
        var reloads = reloadTimes.Count == 0 ? "0 | – | –"
            : string.Create(CultureInfo.InvariantCulture, $"{reloadTimes.Count} | {reloadTimes[reloadTimes.Count / 2]:F1} ms | {reloadTimes[^1]:F1} ms");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {count:N0} | {Ns(0.5)} | {Ns(0.99)} | {Ns(0.999)} | {Ns(0.9999)} | {Format(max)} | {reloads} | {collections} |"));
    }

    private static string Format(double ns) =>
        ns >= 1e6 ? string.Create(CultureInfo.InvariantCulture, $"{ns / 1e6:F2} ms")
        : ns >= 1e4 ? string.Create(CultureInfo.InvariantCulture, $"{ns / 1e3:F1} µs")
        : string.Create(CultureInfo.InvariantCulture, $"{ns:F0} ns");
}
