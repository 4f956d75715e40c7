// Measures what the proxy allocates per forwarded request in steady state. The proxy runs in its own
// process (samples/ProxyHost, Release), so the figure is the proxy's alone: this process hosts the upstream
// and the load, and reads the proxy's dotnet_gc_allocated_bytes_total from its /metrics before and after.
//
//   dotnet run -c Release --project bench/ProxyAllocations -- [--requests N] [--connections C] [--algorithm A] [--access-log FILE] [--health-check] [--session-affinity]
//
// --health-check gives the cluster an active HTTP health check every second: what the request path pays for it is
// the difference from a run without (the probes' own allocations, a few per second, are in the figure too).
// --session-affinity turns the cluster's affinity cookie on; each client worker keeps the cookie its first response
// set, so the measured requests are the steady case: a session going back to its endpoint.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

var requests = Option("--requests", 100_000);
var connections = Option("--connections", 16);
var algorithm = OptionText("--algorithm", "RoundRobin");
var profile = args.Contains("--profile");
var uploadMegabytes = Option("--upload-mb", 0);
// The proxy's access log, on and written to this file (JSON); off when not given.
var accessLog = OptionText("--access-log", "");
var healthCheck = args.Contains("--health-check");
var sessionAffinity = args.Contains("--session-affinity");
var repoRoot = FindRepoRoot();

// The upstream: three Kestrel endpoints answering a fixed 13-byte body.
var body = "Hello, World!"u8.ToArray();
var upstreams = new List<WebApplication>();
var upstreamAddresses = new List<string>();
for (var i = 0; i < 3; i++)
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.ClearProviders();
    builder.WebHost.ConfigureKestrel(k =>
    {
        k.Listen(IPAddress.Loopback, 0);
        k.Limits.MaxRequestBodySize = null;
    });
    var app = builder.Build();
    app.Run(async context =>
    {
        var sink = new byte[64 * 1024];
        while (await context.Request.Body.ReadAsync(sink) > 0)
        {
        }

        context.Response.ContentLength = body.Length;
        context.Response.ContentType = "text/plain";
        await context.Response.Body.WriteAsync(body);
    });
    await app.StartAsync();
    upstreams.Add(app);
    upstreamAddresses.Add(new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Authority);
}

var proxyPort = FreePort();
var adminPort = FreePort();
var config = Path.Combine(Path.GetTempPath(), $"proxy-allocations-{Environment.ProcessId}.json");
await File.WriteAllTextAsync(config, $$"""
{
  "Logging": { "LogLevel": { "Default": "Warning" } },
  "DemoBackends": { "Count": 0 },
  "Proxy": {
    "Listeners": [ { "Url": "http://127.0.0.1:{{proxyPort}}" } ],
    "Admin": { "Url": "http://127.0.0.1:{{adminPort}}" },
    "AccessLog": { "Enabled": {{(accessLog.Length > 0 ? "true" : "false")}}, "Path": {{System.Text.Json.JsonSerializer.Serialize(accessLog)}} },
    "Routes": [ { "Path": "/", "Cluster": "bench" } ],
    "Clusters": { "bench": { "Algorithm": "{{algorithm}}", {{(healthCheck ? "\"HealthCheck\": { \"Path\": \"/\", \"Interval\": \"00:00:01\" }," : "")}} {{(sessionAffinity ? "\"SessionAffinity\": { \"CookieName\": \"bench\" }," : "")}} "Endpoints": [ {{string.Join(", ", upstreamAddresses.Select(a => $"{{ \"Address\": \"{a}\" }}"))}} ] } }
  }
}
""");

// ProxyHost is published NativeAOT, so its builds turn startup hooks off; --profile builds a copy that allows them.
var hostDir = profile ? Path.Combine(Path.GetTempPath(), "proxy-allocations-host") : Path.Combine(repoRoot, "samples", "ProxyHost", "bin", "Release", "net10.0");
var hostDll = Path.Combine(hostDir, "ProxyHost.dll");
Run("dotnet", $"build -c Release \"{Path.Combine(repoRoot, "samples", "ProxyHost")}\" -v q -nologo" + (profile ? $" -p:StartupHookSupport=true -o \"{hostDir}\"" : ""));
var start = new ProcessStartInfo("dotnet", $"\"{hostDll}\" --config \"{config}\"") { RedirectStandardOutput = true, RedirectStandardError = true };
var profileFile = Path.Combine(Path.GetTempPath(), $"proxy-allocations-{Environment.ProcessId}.txt");
if (profile)
{
    // Allocation sampling by type inside the proxy (see StartupHook.cs); it perturbs the figures, so only on request.
    start.Environment["DOTNET_STARTUP_HOOKS"] = typeof(Program).Assembly.Location;
    start.Environment["LB_ALLOCATION_PROFILE"] = profileFile;
}

using var proxy = Process.Start(start)!;
try
{
    using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}/"), Timeout = TimeSpan.FromSeconds(10) };
    await WaitReadyAsync(admin);

    using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections, UseCookies = false })
    {
        BaseAddress = new Uri($"http://127.0.0.1:{proxyPort}/"),
    };

    if (uploadMegabytes > 0)
    {
        // One large upload: what the proxy allocates to stream it (it must not hold the body).
        await LoadAsync(client, 100, 1);
        var first = await ScrapeAsync(admin);
        var payload = new byte[64 * 1024];
        using var content = new StreamContent(new RepeatingStream(payload, uploadMegabytes * 1024L * 1024));
        content.Headers.ContentLength = uploadMegabytes * 1024L * 1024;
        using (var response = await client.PostAsync("/upload", content))
        {
            response.EnsureSuccessStatusCode();
        }

        var end = await ScrapeAsync(admin);
        Console.WriteLine($"upload of {uploadMegabytes} MiB: proxy allocated {(end["dotnet_gc_allocated_bytes_total"] - first["dotnet_gc_allocated_bytes_total"]) / 1024:F0} KiB, resident {end["process_resident_memory_bytes"] / (1024 * 1024):F1} MiB");
        if (profile)
        {
            await Task.Delay(1500);
            Console.WriteLine(await File.ReadAllTextAsync(profileFile));
        }

        return;
    }

    Console.WriteLine($"Proxy pid {proxy.Id}, {algorithm}, {connections} connections, 3 upstreams, 13-byte bodies, access log {(accessLog.Length > 0 ? "on (" + accessLog + ")" : "off")}, health check {(healthCheck ? "HTTP every 1 s" : "off")}, session affinity {(sessionAffinity ? "on" : "off")}.");
    await LoadAsync(client, Math.Max(20_000, requests / 5), connections); // warm-up: JIT tiers, pools, header caches
    var before = await ScrapeAsync(admin);
    var watch = Stopwatch.StartNew();
    await LoadAsync(client, requests, connections);
    watch.Stop();
    var after = await ScrapeAsync(admin);

    var allocated = after["dotnet_gc_allocated_bytes_total"] - before["dotnet_gc_allocated_bytes_total"];
    var cpu = after["process_cpu_seconds_total"] - before["process_cpu_seconds_total"];
    Console.WriteLine($"requests            {requests}");
    Console.WriteLine($"wall                {watch.Elapsed.TotalSeconds:F2} s ({requests / watch.Elapsed.TotalSeconds:F0} req/s, client in the same box)");
    Console.WriteLine($"proxy CPU           {cpu:F2} s ({requests / cpu:F0} requests per proxy CPU-second)");
    Console.WriteLine($"allocated           {allocated:F0} bytes = {allocated / requests:F1} bytes per request");
    Console.WriteLine($"gen0 collections    {after["gen0"] - before["gen0"]:F0}");
    Console.WriteLine($"resident memory     {after["process_resident_memory_bytes"] / (1024 * 1024):F1} MiB");
    if (profile)
    {
        await Task.Delay(1500);
        Console.WriteLine("allocation samples by type (whole run, ~1 sample per 100 KB):");
        Console.WriteLine(await File.ReadAllTextAsync(profileFile));
    }
}
finally
{
    proxy.Kill(entireProcessTree: true);
    await proxy.WaitForExitAsync();
    File.Delete(config);
    foreach (var app in upstreams)
    {
        await app.StopAsync();
    }
}

static async Task LoadAsync(HttpClient client, int total, int concurrency)
{
    var remaining = total;
    var workers = Enumerable.Range(0, concurrency).Select(async _ =>
    {
        var buffer = new byte[64];
        string? cookie = null;
        while (Interlocked.Decrement(ref remaining) >= 0)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/");
            if (cookie is not null)
            {
                request.Headers.Add("Cookie", cookie);
            }

            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"proxy answered {(int)response.StatusCode}");
            }

            if (response.Headers.TryGetValues("Set-Cookie", out var set))
            {
                // The affinity cookie (only set when affinity is on): keep its name=value, as a browser would.
                var value = set.First();
                cookie = value[..value.IndexOf(';', StringComparison.Ordinal)];
            }

            await using var stream = await response.Content.ReadAsStreamAsync();
            while (await stream.ReadAsync(buffer) > 0)
            {
            }
        }
    });
    await Task.WhenAll(workers);
}

static async Task<Dictionary<string, double>> ScrapeAsync(HttpClient admin)
{
    var text = await admin.GetStringAsync("metrics");
    var values = new Dictionary<string, double>();
    foreach (var line in text.Split('\n'))
    {
        var match = Regex.Match(line, @"^(dotnet_gc_allocated_bytes_total|process_cpu_seconds_total|process_resident_memory_bytes|dotnet_gc_collections_total\{generation=""0""\}) (\S+)$");
        if (match.Success)
        {
            var name = match.Groups[1].Value.StartsWith("dotnet_gc_collections", StringComparison.Ordinal) ? "gen0" : match.Groups[1].Value;
            values[name] = double.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
        }
    }

    return values;
}

static async Task WaitReadyAsync(HttpClient admin)
{
    var deadline = DateTime.UtcNow.AddSeconds(60);
    while (true)
    {
        try
        {
            using var response = await admin.GetAsync("readyz");
            if (response.IsSuccessStatusCode)
            {
                return;
            }
        }
        catch (HttpRequestException) when (DateTime.UtcNow < deadline)
        {
        }

        if (DateTime.UtcNow > deadline)
        {
            throw new TimeoutException("the proxy did not become ready within 60 s");
        }

        await Task.Delay(200);
    }
}

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

static void Run(string file, string arguments)
{
    using var process = Process.Start(new ProcessStartInfo(file, arguments))!;
    process.WaitForExit();
    if (process.ExitCode != 0)
    {
        throw new InvalidOperationException($"{file} {arguments} failed with {process.ExitCode}");
    }
}

static string FindRepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "LoadBalancing.sln")))
        {
            return dir.FullName;
        }
    }

    throw new InvalidOperationException("run from inside the repository");
}

int Option(string name, int fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

string OptionText(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;

/// <summary>A read-only stream of a given length that repeats one buffer, so the client never holds the body.</summary>
internal sealed class RepeatingStream(byte[] pattern, long length) : Stream
{
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var n = (int)Math.Min(Math.Min(count, pattern.Length), length - _position);
        Array.Copy(pattern, 0, buffer, offset, n);
        _position += n;
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
