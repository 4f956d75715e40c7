using System.Diagnostics;
using System.Net;
using System.Text.Json;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.Extensions.Configuration;

namespace LoadBalancing.Proxy.Tests.Configuration;

/// <summary>Live configuration: reloads from a watched file and POST /config/reload, on the real proxy over loopback.</summary>
public sealed class ConfigReloadTests
{
    [Fact]
    public async Task FileReplacedByRename_NewRouteAnswersWithinOneSecond()
    {
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        using var file = new ConfigFile(Json(("/a", "a", a.Address, "RoundRobin")));
        await using var proxy = await file.StartProxyAsync();
        Assert.Equal(HttpStatusCode.NotFound, (await proxy.Client.GetAsync("/b", TestContext.Current.CancellationToken)).StatusCode);

        var changed = Stopwatch.StartNew();
        file.Replace(Json(("/a", "a", a.Address, "RoundRobin"), ("/b", "b", b.Address, "RoundRobin")));
        var elapsed = await UntilAsync(proxy, "/b", "b");

        Assert.True(elapsed <= TimeSpan.FromSeconds(1), $"the new route answered {elapsed.TotalMilliseconds:F0} ms after the file changed");
        Assert.Equal("a", await proxy.Client.GetStringAsync("/a", TestContext.Current.CancellationToken));
        using var config = JsonDocument.Parse(await proxy.Admin.GetStringAsync("config", TestContext.Current.CancellationToken));
        Assert.Equal(2, config.RootElement.GetProperty("generation").GetInt64());
        Assert.Equal("file", config.RootElement.GetProperty("source").GetString());
        TestContext.Current.TestOutputHelper?.WriteLine($"file change to service: {elapsed.TotalMilliseconds:F0} ms");
    }

    [Fact]
    public async Task InvalidEdit_LastGoodKeepsServing_ConfigAndMetricsSayWhy()
    {
        await using var a = await TestBackend.StartAsync("a");
        using var file = new ConfigFile(Json(("/a", "a", a.Address, "RoundRobin")));
        await using var proxy = await file.StartProxyAsync();

        file.Replace(Json(("/a", "a", a.Address, "Fastest")).Replace("\"Address\"", "\"Adress\"", StringComparison.Ordinal));
        JsonElement failure = default;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (failure.ValueKind != JsonValueKind.Object)
        {
            deadline.Token.ThrowIfCancellationRequested();
            using var config = JsonDocument.Parse(await proxy.Admin.GetStringAsync("config", deadline.Token));
            failure = config.RootElement.GetProperty("lastFailure").Clone();
            await Task.Yield();
        }

        var errors = failure.GetProperty("errors").EnumerateArray().Select(e => e.GetString()).ToArray();
        Assert.Contains(errors, e => e!.StartsWith("Proxy:Clusters:a:Algorithm: 'Fastest' is not a balancing algorithm", StringComparison.Ordinal));
        Assert.Contains(errors, e => e!.StartsWith("Proxy:Clusters:a:Endpoints:0:Adress: unknown key", StringComparison.Ordinal));
        Assert.Equal("a", await proxy.Client.GetStringAsync("/a", TestContext.Current.CancellationToken));
        var metrics = await proxy.Admin.GetStringAsync("metrics", TestContext.Current.CancellationToken);
        Assert.Contains("lb_config_reloads_total{outcome=\"rejected\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("lb_config_generation 1", metrics, StringComparison.Ordinal);

        // Fixed again: the failure is history, the fixed file is in service.
        file.Replace(Json(("/a", "a", a.Address, "LeastRequest")));
        var response = await proxy.Admin.PostAsync("config/reload", null, TestContext.Current.CancellationToken);
        using var fixedConfig = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(JsonValueKind.Null, fixedConfig.RootElement.GetProperty("lastFailure").ValueKind);
        Assert.Equal("LeastRequest", proxy.Cluster("a").Options.Algorithm.ToString());
    }

    [Fact]
    public async Task PostConfigReload_AppliesThenReportsUnchanged_ListenerChangeNeedsARestart()
    {
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        using var file = new ConfigFile(Json(("/a", "a", a.Address, "RoundRobin")), watch: false);
        await using var proxy = await file.StartProxyAsync();
        var kept = proxy.Cluster("a");

        file.Replace(Json(("/a", "a", a.Address, "RoundRobin"), ("/b", "b", b.Address, "Maglev")).Replace("http://127.0.0.1:0\" } ]", "http://127.0.0.1:1\" } ]", StringComparison.Ordinal));
        var applied = await proxy.Admin.PostAsync("config/reload", null, TestContext.Current.CancellationToken);
        var again = await proxy.Admin.PostAsync("config/reload", null, TestContext.Current.CancellationToken);

        using var first = JsonDocument.Parse(await applied.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        using var second = JsonDocument.Parse(await again.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.True(first.RootElement.GetProperty("outcome").GetString() == "applied", first.RootElement.ToString());
        Assert.Equal("unchanged", second.RootElement.GetProperty("outcome").GetString());
        Assert.Equal(2, second.RootElement.GetProperty("generation").GetInt64());
        Assert.Equal(["Proxy:Listeners changed; restart to apply"], second.RootElement.GetProperty("restartNeeded").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("b", await proxy.Client.GetStringAsync("/b", TestContext.Current.CancellationToken));
        Assert.Same(kept, proxy.Cluster("a"));
        var metrics = await proxy.Admin.GetStringAsync("metrics", TestContext.Current.CancellationToken);
        Assert.Contains("lb_config_reloads_total{outcome=\"applied\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("lb_config_reloads_total{outcome=\"unchanged\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("lb_config_generation 2", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigView_RedactsTheCertificatePassword()
    {
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, "127.0.0.1:9");
        await using var proxy = await TestProxy.StartAsync(options);
        var next = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, "127.0.0.1:9");
        var certificate = Path.GetTempFileName();
        next.Listeners.Add(new ListenerOptions { Url = "https://127.0.0.1:0", CertificatePath = certificate, CertificatePassword = "hunter2" });

        var result = proxy.Runtime.Reload(next, [], "code");
        File.Delete(certificate);
        var text = await proxy.Admin.GetStringAsync("config", TestContext.Current.CancellationToken);

        Assert.True(result.Outcome == ReloadOutcome.Applied, string.Join("\n", result.Errors));
        Assert.DoesNotContain("hunter2", text, StringComparison.Ordinal);
        Assert.Contains("\"CertificatePassword\": \"(redacted)\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigMapSymlinkSwap_IsSeen()
    {
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        var directory = Directory.CreateTempSubdirectory("lb-configmap-").FullName;
        try
        {
            // The kubelet's layout: proxy.json -> ..data/proxy.json, ..data -> ..2026_1; an update writes a new
            // timestamped directory and renames a new ..data symlink over the old one.
            Directory.CreateDirectory(Path.Combine(directory, "..v1"));
            File.WriteAllText(Path.Combine(directory, "..v1", "proxy.json"), Json(("/a", "a", a.Address, "RoundRobin")));
            File.CreateSymbolicLink(Path.Combine(directory, "..data"), "..v1");
            File.CreateSymbolicLink(Path.Combine(directory, "proxy.json"), "..data/proxy.json");
            var file = Path.Combine(directory, "proxy.json");
            IConfiguration Read() => new ConfigurationBuilder().AddJsonStream(new MemoryStream(File.ReadAllBytes(file))).Build().GetSection(ProxyConfiguration.SectionName);
            await using var proxy = await TestProxy.StartAsync(ProxyConfiguration.Load(Read()), configure: p => p.UseConfigurationReload(reload =>
            {
                reload.Read = Read;
                reload.WatchFile = file;
                reload.ReloadOnHangup = false;
            }));

            Directory.CreateDirectory(Path.Combine(directory, "..v2"));
            File.WriteAllText(Path.Combine(directory, "..v2", "proxy.json"), Json(("/a", "a", a.Address, "RoundRobin"), ("/b", "b", b.Address, "RoundRobin")));
            File.CreateSymbolicLink(Path.Combine(directory, "..data_tmp"), "..v2");

            // rename(2) of the link itself, as the kubelet does (File.Move follows a link to a directory).
            using (var rename = Process.Start("mv", ["-T", Path.Combine(directory, "..data_tmp"), Path.Combine(directory, "..data")]))
            {
                await rename.WaitForExitAsync(TestContext.Current.CancellationToken);
                Assert.Equal(0, rename.ExitCode);
            }

            var elapsed = await UntilAsync(proxy, "/b", "b");

            Assert.True(elapsed <= TimeSpan.FromSeconds(1), $"the new route answered {elapsed.TotalMilliseconds:F0} ms after the swap");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Reload_ChangedClusterKeepsItsSourceAndEndpointState_RemovedClusterIsDisposedOnceIdle()
    {
        await using var a = await TestBackend.StartAsync("a");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, a.Address);
        options.Routes.Add(new ProxyRouteOptions { Path = "/gone", Cluster = "gone" });
        options.Clusters["gone"] = new ClusterOptions { Endpoints = { new EndpointOptions { Address = a.Address } } };
        await using var proxy = await TestProxy.StartAsync(options);
        Assert.Equal("a", await proxy.Client.GetStringAsync("/gone", TestContext.Current.CancellationToken));
        var before = proxy.Cluster("web");
        var state = before.Source.Current.States[0];
        var gone = proxy.Cluster("gone");

        var result = proxy.Runtime.Reload(TestProxy.Options(LoadBalancingAlgorithm.LeastRequest, a.Address), [], "code");

        Assert.Equal(ReloadOutcome.Applied, result.Outcome);
        var after = proxy.Cluster("web");
        Assert.NotSame(before, after);
        Assert.Same(before.Source, after.Source);
        Assert.Same(state, after.Source.Current.States[0]);
        Assert.Equal(1, gone.Metrics.ConnectionsOpen);

        // Nothing in flight on the retired clusters: they are disposed after one drain poll. A cluster leaves the retired
        // list just before its disposal closes its connections, so wait for both (bounded: a leak fails the test).
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (proxy.Runtime.RetiredClusters > 0 || gone.Metrics.ConnectionsOpen > 0)
        {
            await Task.Delay(10, deadline.Token);
        }

        Assert.Equal(0, gone.Metrics.ConnectionsOpen);
    }

    [Fact]
    public async Task Reload_RebuiltCluster_KeepsItsEjections()
    {
        await using var a = await TestBackend.StartAsync("a", "127.0.0.2");
        var dead = Loopback.DeadEndpoint("127.0.0.3");
        ProxyOptions Options(LoadBalancingAlgorithm algorithm)
        {
            var options = TestProxy.Options(algorithm, a.Address, dead);
            options.Clusters["web"].OutlierDetection.ConsecutiveFailures = 1;
            return options;
        }

        await using var proxy = await TestProxy.StartAsync(Options(LoadBalancingAlgorithm.RoundRobin));
        var ct = TestContext.Current.CancellationToken;
        for (var i = 0; i < 50 && proxy.Cluster().Balancer.Status.EjectedEndpoints == 0; i++)
        {
            (await proxy.Client.GetAsync("/", ct)).EnsureSuccessStatusCode();
        }

        var before = proxy.Cluster();
        Assert.Equal(1, before.Balancer.Status.EjectedEndpoints);

        var result = proxy.Runtime.Reload(Options(LoadBalancingAlgorithm.Random), [], "code");

        // A new balancer for the new algorithm, which must not send traffic to the endpoint the old one ejected.
        Assert.Equal(ReloadOutcome.Applied, result.Outcome);
        var after = proxy.Cluster();
        Assert.NotSame(before.Balancer, after.Balancer);
        Assert.Equal(1, after.Balancer.Status.EjectedEndpoints);
        Assert.Equal(1, after.Balancer.Status.UsableEndpoints);
        using var json = JsonDocument.Parse(await proxy.Admin.GetStringAsync("backends", ct));
        var endpoint = json.RootElement.GetProperty("clusters")[0].GetProperty("endpoints").EnumerateArray()
            .Single(e => $"{e.GetProperty("address").GetString()}:{e.GetProperty("port").GetInt32()}" == dead);
        Assert.True(endpoint.GetProperty("ejected").GetBoolean());
        Assert.Equal(1, endpoint.GetProperty("ejectionsTotal").GetInt32());
    }

    [Fact]
    public async Task Reload_ForwardingOnlyChange_KeepsTheClusterItsBalancerAndItsConnections()
    {
        await using var a = await TestBackend.StartAsync("a", "127.0.0.2");
        var options = TestProxy.Options(LoadBalancingAlgorithm.Maglev, a.Address);
        await using var proxy = await TestProxy.StartAsync(options);
        Assert.Equal("a", await proxy.Client.GetStringAsync("/", TestContext.Current.CancellationToken));
        var before = proxy.Cluster("web");
        var balancer = before.Balancer;

        var changed = TestProxy.Options(LoadBalancingAlgorithm.Maglev, a.Address);
        changed.Clusters["web"].ConnectTimeout = TimeSpan.FromSeconds(5);
        changed.Clusters["web"].MaxAttempts = 2;
        changed.Clusters["web"].PreserveHost = false;
        var result = proxy.Runtime.Reload(changed, [], "code");

        Assert.Equal(ReloadOutcome.Applied, result.Outcome);
        Assert.Same(before, proxy.Cluster("web"));
        Assert.Same(balancer, proxy.Cluster("web").Balancer);
        Assert.Equal(TimeSpan.FromSeconds(5), proxy.Cluster("web").Options.ConnectTimeout);
        Assert.Equal(2, proxy.Cluster("web").DefaultRetry.MaxAttempts);
        Assert.Equal("a", await proxy.Client.GetStringAsync("/", TestContext.Current.CancellationToken));
        Assert.Equal(a.Address, a.Requests.Last().Headers["Host"]); // PreserveHost off took effect
        Assert.Single(a.ConnectionIds); // the pooled connection carried on
        Assert.Equal(1, before.Metrics.ConnectionsOpened);
    }

    [Fact]
    public async Task AccessLogChange_IsReportedAsNeedingARestart_AndTheRestApplies()
    {
        await using var a = await TestBackend.StartAsync("a");
        using var file = new ConfigFile(Json(("/a", "a", a.Address, "RoundRobin")), watch: false);
        await using var proxy = await file.StartProxyAsync();

        file.Replace(Json(("/a", "a", a.Address, "Maglev")).Replace("\"Routes\":", "\"AccessLog\": { \"Enabled\": true, \"SampleRate\": 0.5 }, \"Routes\":", StringComparison.Ordinal));
        var response = await proxy.Admin.PostAsync("config/reload", null, TestContext.Current.CancellationToken);

        using var result = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal("applied", result.RootElement.GetProperty("outcome").GetString());
        Assert.Equal(["Proxy:AccessLog changed; restart to apply"], result.RootElement.GetProperty("restartNeeded").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("Maglev", proxy.Cluster("a").Options.Algorithm.ToString());
    }

    [Fact(Timeout = 30_000)]
    public async Task PostReload_OnTheEventLoop_ReadsOffTheLoops_RequestsAnsweredWhileItReads()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The event-loop transport runs on Linux only.");
        await using var a = await TestBackend.StartAsync("a");
        var json = Json(("/a", "a", a.Address, "RoundRobin"));
        IConfiguration Read() => new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json)))
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Proxy:Transport"] = "EventLoop" })
            .Build().GetSection(ProxyConfiguration.SectionName);
        using var reading = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        await using var proxy = await TestProxy.StartAsync(ProxyConfiguration.Load(Read()), configure: p => p.UseConfigurationReload(reload =>
        {
            // A slow source (a file on a stalled disk): the reload blocks here until the test has been answered.
            reload.Read = () =>
            {
                reading.Set();
                release.Wait(TimeSpan.FromSeconds(20));
                return Read();
            };
            reload.ReloadOnHangup = false;
        }));

        var posted = proxy.Admin.PostAsync("config/reload", null, TestContext.Current.CancellationToken);
        try
        {
            Assert.True(await Task.Run(() => reading.Wait(TimeSpan.FromSeconds(10)), TestContext.Current.CancellationToken), "the reload never read");

            // Sixteen new connections, spread over every loop by the kernel (SO_REUSEPORT), the admin request's included:
            // each is answered while the reload still reads.
            for (var i = 0; i < 16; i++)
            {
                using var client = proxy.NewClient();
                client.Timeout = TimeSpan.FromSeconds(5);
                Assert.Equal("a", await client.GetStringAsync("/a", TestContext.Current.CancellationToken));
            }

            Assert.False(posted.IsCompleted);
        }
        finally
        {
            release.Set();
        }

        using var response = await posted;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static string Json(params (string Path, string Cluster, string Address, string Algorithm)[] routes) => $$"""
        { "Proxy": {
            "Listeners": [ { "Url": "http://127.0.0.1:0" } ],
            "Admin": { "Url": "http://127.0.0.1:0" },
            "Routes": [ {{string.Join(", ", routes.Select(r => $$"""{ "Path": "{{r.Path}}", "Cluster": "{{r.Cluster}}" }"""))}} ],
            "Clusters": { {{string.Join(", ", routes.Select(r => $$""" "{{r.Cluster}}": { "Algorithm": "{{r.Algorithm}}", "Endpoints": [ { "Address": "{{r.Address}}" } ] }"""))}} } } }
        """;

    /// <summary>Polls (bounded, no sleeps) until <paramref name="path"/> answers <paramref name="body"/>; returns how long it took.</summary>
    private static async Task<TimeSpan> UntilAsync(TestProxy proxy, string path, string body)
    {
        var watch = Stopwatch.StartNew();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            using var response = await proxy.Client.GetAsync(path, deadline.Token);
            if (response.StatusCode == HttpStatusCode.OK && await response.Content.ReadAsStringAsync(deadline.Token) == body)
            {
                return watch.Elapsed;
            }
        }
    }

    /// <summary>A configuration file alone in its own directory, replaced the way editors save.</summary>
    private sealed class ConfigFile : IDisposable
    {
        private readonly string _directory = Directory.CreateTempSubdirectory("lb-reload-").FullName;
        private readonly bool _watch;

        public ConfigFile(string json, bool watch = true)
        {
            _watch = watch;
            Path = System.IO.Path.Combine(_directory, "proxy.json");
            File.WriteAllText(Path, json);
        }

        public string Path { get; }

        /// <summary>Writes a new file next to it and renames it over the old one.</summary>
        public void Replace(string json)
        {
            var temporary = Path + ".tmp";
            File.WriteAllText(temporary, json);
            File.Move(temporary, Path, overwrite: true);
        }

        public IConfiguration Read() =>
            new ConfigurationBuilder().AddJsonStream(new MemoryStream(File.ReadAllBytes(Path))).AddInMemoryCollection(TestTransport.Configuration())
                .Build().GetSection(ProxyConfiguration.SectionName);

        public Task<TestProxy> StartProxyAsync() => TestProxy.StartAsync(
            ProxyConfiguration.Load(Read()),
            configure: proxy => proxy.UseConfigurationReload(reload =>
            {
                reload.Read = Read;
                reload.WatchFile = _watch ? Path : null;
                reload.ReloadOnHangup = false;
            }));

        public void Dispose() => Directory.Delete(_directory, recursive: true);
    }
}
