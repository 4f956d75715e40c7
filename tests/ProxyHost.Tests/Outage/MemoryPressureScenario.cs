using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Proxy.Tests.Support;
using static LoadBalancing.Kubernetes.Tests.Support.Slices;

namespace ProxyHost.Tests.Outage;

/// <summary>
/// The outage's trigger: memory pressure. The real ProxyHost runs as its own process under a hard GC heap limit,
/// under load, while the API server sends a storm of EndpointSlice events. The watch must keep converging and the
/// process must stay up; if it could not keep up it would have to say so (unready, stale metric).
/// </summary>
[Collection(nameof(OutageScenarios))]
public sealed class MemoryPressureScenario
{
    private const string HeapLimit = "0x2000000"; // 32 MiB of managed heap for the whole proxy

    [Fact]
    public async Task UnderAHardHeapLimit_AStormOfEvents_KeepsConverging_WithoutOutOfMemory()
    {
        await using var api = await FakeApiServer.StartAsync();
        var podPort = FreePort("127.0.5.1");
        var pods = new List<TestBackend>();
        for (var i = 1; i <= 3; i++)
        {
            pods.Add(await TestBackend.StartAsync($"pod-{i}", $"127.0.5.{i}", port: podPort));
        }

        api.Apply("prod", SliceWithNoise(pods, generation: 0));
        var proxyPort = FreePort("127.0.0.1");
        var adminPort = FreePort("127.0.0.1");
        var config = Path.Combine(Path.GetTempPath(), $"pressure-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(config, $$"""
            {
              "Logging": { "LogLevel": { "Default": "Warning" } },
              "Kubernetes": { "ApiServer": "{{api.Url}}", "WatchIdleTimeout": "00:00:05", "ConfirmInterval": "00:00:01", "ListTimeout": "00:00:05", "StaleAfter": "00:00:10", "WedgedAfter": "00:01:00", "MinPublishInterval": "00:00:00.050" },
              "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:{{proxyPort}}" } ],
                "Admin": { "Url": "http://127.0.0.1:{{adminPort}}" },
                "Routes": [ { "Path": "/", "Cluster": "checkout" } ],
                "Clusters": { "checkout": { "Algorithm": "PeakEwma", "Kubernetes": { "Namespace": "prod", "Service": "checkout", "Port": "http" } } }
              }
            }
            """, TestContext.Current.CancellationToken);

        var start = new ProcessStartInfo("dotnet", $"\"{Path.Combine(AppContext.BaseDirectory, "ProxyHost.dll")}\" --config \"{config}\"")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["DOTNET_GCHeapHardLimit"] = HeapLimit;
        start.Environment["DOTNET_gcServer"] = "0";
        using var proxy = Process.Start(start)!;
        var errors = proxy.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        _ = proxy.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}/"), Timeout = TimeSpan.FromSeconds(10) };
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{proxyPort}/"), Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            await ReadyAsync(admin, proxy);
            var limit = Regex.Match(await admin.GetStringAsync("metrics", TestContext.Current.CancellationToken), @"^dotnet_gc_memory_limit_bytes (\S+)$", RegexOptions.Multiline).Groups[1].Value;
            Assert.Equal(32 * 1024 * 1024, double.Parse(limit, CultureInfo.InvariantCulture)); // the limit is really in force
            await using var load = new LoadLoop(client, workers: 4, paths: ["checkout"]);
            await load.WhileRequestsFlowAsync();

            // The storm: 20,000 MODIFIED events, each a slice of the three live pods plus 200 not-ready ones.
            const int events = 20_000;
            for (var generation = 1; generation <= events; generation++)
            {
                api.Apply("prod", SliceWithNoise(pods, generation));
                if (generation % 2_000 == 0)
                {
                    api.Compact();
                    if (proxy.HasExited)
                    {
                        Assert.Fail($"Promise broken: the proxy died during the storm ({await errors}).");
                    }
                }
            }

            // The view must converge on the last generation, and say it is current.
            var converged = await ConvergedAsync(admin, proxy, marker: Noise(events, 0));
            Assert.True(converged, "Promise broken: under memory pressure the view did not converge on the last event within 60 s, and readiness did not say so.");
            var metrics = await admin.GetStringAsync("metrics", TestContext.Current.CancellationToken);
            var age = double.Parse(Regex.Match(metrics, @"lb_kubernetes_view_age_seconds\{namespace=""prod""\} (\S+)").Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.True(age < 10, $"Promise broken: the freshness metric says the view is {age} s old right after it converged.");
            await load.WhileRequestsFlowAsync(50);
            await load.StopAsync();

            if (proxy.HasExited)
            {
                Assert.Fail($"Promise broken: the proxy exited under memory pressure ({await errors}).");
            }

            Assert.True(load.Failures.IsEmpty, $"Promise broken: requests failed under memory pressure ({load.Describe()}).");
        }
        finally
        {
            if (!proxy.HasExited)
            {
                proxy.Kill(entireProcessTree: true);
            }

            await proxy.WaitForExitAsync(TestContext.Current.CancellationToken);
            Assert.DoesNotContain("OutOfMemory", await errors, StringComparison.Ordinal);
            File.Delete(config);
            foreach (var pod in pods)
            {
                await pod.DisposeAsync();
            }
        }
    }

    private static string Noise(int generation, int i) => $"10.{100 + (generation % 100)}.{generation / 100 % 250}.{i + 1}";

    private static System.Text.Json.Nodes.JsonObject SliceWithNoise(List<TestBackend> pods, int generation) =>
        Slice(
            "checkout-abc",
            "checkout",
            [
                .. pods.Select(p => new Ep([p.Address.Split(':')[0]])),
                .. Enumerable.Range(0, 200).Select(i => new Ep([Noise(generation, i)], Ready: false, Serving: false)),
            ],
            [("http", int.Parse(pods[0].Address.Split(':')[1], CultureInfo.InvariantCulture))]);

    private static async Task ReadyAsync(HttpClient admin, Process proxy)
    {
        // A separate process: poll its readiness, bounded.
        for (var attempt = 0; attempt < 300; attempt++)
        {
            Assert.False(proxy.HasExited, "Promise broken: the proxy exited at start-up under the heap limit.");
            try
            {
                using var response = await admin.GetAsync("readyz", TestContext.Current.CancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        throw new Xunit.Sdk.XunitException("Promise broken: the proxy did not become ready within 30 s under the heap limit.");
    }

    private static async Task<bool> ConvergedAsync(HttpClient admin, Process proxy, string marker)
    {
        for (var attempt = 0; attempt < 600; attempt++)
        {
            Assert.False(proxy.HasExited, "Promise broken: the proxy exited while catching up with the storm.");
            var backends = await admin.GetStringAsync("backends", TestContext.Current.CancellationToken);
            if (backends.Contains($"\"address\": \"{marker}\"", StringComparison.Ordinal))
            {
                return true;
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        return false;
    }

    private static int FreePort(string ip)
    {
        using var listener = new TcpListener(IPAddress.Parse(ip), 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
