using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ProxyHost.Tests;

/// <summary>
/// The built ProxyHost, started as a user starts it with a bad configuration file: every problem on stderr, each
/// naming its key, exit code 2, never a stack trace. PROXYHOST_UNDER_TEST runs the same checks against another
/// build of the host (a NativeAOT publish, say).
/// </summary>
public sealed class ConfigErrorTests
{
    private const string Valid = """
        "Listeners": [ { "Url": "http://127.0.0.1:0" } ],
        "Admin": { "Url": "http://127.0.0.1:0" },
        "Routes": [ { "Path": "/", "Cluster": "web" } ],
        """;

    [Fact]
    public async Task MisspeltKeyInAnEndpoint_IsNamedByItsFullPath()
    {
        var run = await RunAsync($$"""
            { "Proxy": { {{Valid}} "Clusters": { "web": { "Endpoints": [ { "Adress": "127.0.0.1:9000" } ] } } } }
            """);

        run.AssertConfigurationErrors("Proxy:Clusters:web:Endpoints:0:Adress: unknown key (set to '127.0.0.1:9000'); did you mean 'Address'?");
    }

    [Fact]
    public async Task UnknownKeyInARoute_IsNamedByItsPath_NotByItsClass()
    {
        var run = await RunAsync("""
            { "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:0" } ], "Admin": { "Url": "http://127.0.0.1:0" },
                "Routes": [ { "Path": "/", "Cluster": "web" }, { "Pth": "/api", "Cluster": "web" } ],
                "Clusters": { "web": { "Endpoints": [ { "Address": "127.0.0.1:9000" } ] } } } }
            """);

        run.AssertConfigurationErrors("Proxy:Routes:1:Pth: unknown key (set to '/api'); did you mean 'Path'?");
    }

    [Fact]
    public async Task RouteProblems_AreEachNamedByKey()
    {
        var run = await RunAsync("""
            { "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:0" } ], "Admin": { "Url": "http://127.0.0.1:0" },
                "Routes": [
                  { "Host": "shop.example.com", "Path": "/", "Cluster": "web" },
                  { "Path": "/old", "PathType": "Exact", "Cluster": "web", "Redirect": { "ReplacePrefixMatch": "/new", "StatusCode": 300 } },
                  { "Path": "/api/(v1|v2", "PathType": "RegularExpression", "Cluster": "web",
                    "RequestHeaders": { "Set": [ { "Name": "Content-Length", "Value": "0" } ] },
                    "Retry": { "On": [ "5xx" ] } }
                ],
                "Clusters": { "web": { "Endpoints": [ { "Address": "127.0.0.1:9000" } ] } } } }
            """);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("Proxy:Routes:0:Host: unknown key (set to 'shop.example.com'); did you mean 'Hosts'?", run.Error, StringComparison.Ordinal);
        Assert.Contains("Proxy:Routes:1: a route that answers itself (Redirect) takes no Cluster or Backends.", run.Error, StringComparison.Ordinal);
        Assert.Contains("Proxy:Routes:1:Redirect:StatusCode must be 301, 302, 303, 307 or 308; got 300.", run.Error, StringComparison.Ordinal);
        Assert.Contains("Proxy:Routes:1:Redirect:ReplacePrefixMatch needs a route whose PathType is Prefix; this one is Exact.", run.Error, StringComparison.Ordinal);
        Assert.Contains("Proxy:Routes:2:Path: '/api/(v1|v2' is not a valid regular expression", run.Error, StringComparison.Ordinal);
        Assert.Contains("Proxy:Routes:2:RequestHeaders:Set:0:Name: 'Content-Length' is set by the proxy itself", run.Error, StringComparison.Ordinal);
        Assert.Contains("Proxy:Routes:2:Retry:On:0: '5xx' is not a retry condition; expected one of connect-failure, reset, 502, 503, 504.", run.Error, StringComparison.Ordinal);
        run.AssertNoStackTrace();
    }

    [Fact]
    public async Task ARoutePolicy_WhichTheStandaloneHostCannotEnforce_IsNamedByKey_AndExitTwo()
    {
        var run = await RunAsync("""
            { "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:0" } ], "Admin": { "Url": "http://127.0.0.1:0" },
                "Routes": [ { "Path": "/admin", "Cluster": "web", "AuthorizationPolicy": "admins" }, { "Path": "/", "Cluster": "web" } ],
                "Clusters": { "web": { "Endpoints": [ { "Address": "127.0.0.1:9000" } ] } } } }
            """);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("Proxy:Routes:0:AuthorizationPolicy: 'admins' cannot be enforced by the proxy as middleware (UseLoadBalancingProxy, as ProxyHost runs it)", run.Error, StringComparison.Ordinal);
        run.AssertNoStackTrace();
    }

    [Fact]
    public async Task HealthCheckProblems_AreEachNamedByKey_AndExitTwo()
    {
        var run = await RunAsync($$"""
            { "Proxy": { {{Valid}} "Clusters": { "web": { "Endpoints": [ { "Address": "127.0.0.1:9000" } ],
              "HealthCheck": { "Path": "healthz", "ExpectedStatuses": "200-", "UnhealthyThreshold": 0, "Protocl": "Tcp" } } } } }
            """);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("Proxy:Clusters:web:HealthCheck:Protocl: unknown key (set to 'Tcp'); did you mean 'Protocol'?", run.Error, StringComparison.Ordinal);
        Assert.Contains("Proxy:Clusters:web:HealthCheck:Path must start with '/'", run.Error, StringComparison.Ordinal);
        Assert.Contains("Proxy:Clusters:web:HealthCheck:ExpectedStatuses: '200-' is not a status code or a range such as 200-299", run.Error, StringComparison.Ordinal);
        Assert.Contains("Proxy:Clusters:web:HealthCheck:UnhealthyThreshold must be between 1 and 1000; got 0.", run.Error, StringComparison.Ordinal);
        run.AssertNoStackTrace();
    }

    [Theory]
    [InlineData("Maglevv", "'Maglevv' is not a balancing algorithm; did you mean 'Maglev'? accepted: RoundRobin, Random, LeastRequest, PeakEwma, RingHash, Maglev.")]
    [InlineData("least-request", "'least-request' is not a balancing algorithm; did you mean 'LeastRequest'? accepted: RoundRobin, Random, LeastRequest, PeakEwma, RingHash, Maglev.")]
    public async Task UnknownAlgorithm_ListsTheAcceptedNames(string algorithm, string expected)
    {
        var run = await RunAsync($$"""
            { "Proxy": { {{Valid}} "Clusters": { "web": { "Algorithm": "{{algorithm}}", "Endpoints": [ { "Address": "127.0.0.1:9000" } ] } } } }
            """);

        run.AssertConfigurationErrors("Proxy:Clusters:web:Algorithm: " + expected);
    }

    [Fact]
    public async Task ManyProblems_AreAllReportedInOneRun()
    {
        var run = await RunAsync("""
            {
              "Kubernetes": { "ApiServer": "http://127.0.0.1:1", "WatchIdleTimout": "00:01:00", "StaleAfter": "3m" },
              "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:80800" } ],
                "Admin": { "Url": "http://127.0.0.1:0" },
                "Routes": [ { "Path": "/", "Cluster": "web" }, { "Path": "/k8s", "Cluster": "pods" } ],
                "Clusters": {
                  "web": { "Algorithm": "LeastRequest", "ConnectTimeout": "2s", "MaxAttempts": 9,
                           "HashKey": { "Source": "Header", "Name": "X-User" },
                           "Endpoints": [ { "Adress": "127.0.0.1:9000" } ] },
                  "pods": { "Kubernetes": { "Namespace": "shop", "Servce": "web" } }
                }
              }
            }
            """);

        run.AssertConfigurationErrors(
            "Proxy:Clusters:pods:Kubernetes:Servce: unknown key (set to 'web'); did you mean 'Service'?",
            "Proxy:Clusters:web:ConnectTimeout: '2s' is not a duration as [d.]hh:mm:ss[.fff] (00:00:02 is 2 seconds); did you mean '00:00:02'?",
            "Proxy:Clusters:web:Endpoints:0:Adress: unknown key (set to '127.0.0.1:9000'); did you mean 'Address'?",
            "Proxy:Listeners:0:Url: 'http://127.0.0.1:80800' is not a listen URL; expected http:// or https://address:port with no path.",
            "Proxy:Clusters:web:MaxAttempts must be between 1 and 8; got 9.",
            "Proxy:Clusters:web:HashKey: a request key only steers Maglev and RingHash; Algorithm is LeastRequest.",
            "Kubernetes:StaleAfter: '3m' is not a duration as [d.]hh:mm:ss[.fff] (00:00:02 is 2 seconds); did you mean '00:03:00'?",
            "Kubernetes:WatchIdleTimout: unknown key (set to '00:01:00'); did you mean 'WatchIdleTimeout'?");
    }

    [Fact]
    public async Task AClusterWithoutEndpoints_IsReportedWithTheOtherProblems()
    {
        var run = await RunAsync("""
            { "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:80800" } ],
                "Admin": { "Url": "http://127.0.0.1:0" },
                "Routes": [ { "Path": "/", "Cluster": "web" } ],
                "Clusters": { "web": { "Endpoints": [] } } } }
            """);

        run.AssertConfigurationErrors(
            "Proxy:Listeners:0:Url: 'http://127.0.0.1:80800' is not a listen URL; expected http:// or https://address:port with no path.",
            "Proxy:Clusters:web:Endpoints: a cluster needs at least one endpoint, a Kubernetes Service, or an endpoint source registered in code (IProxyBuilder.UseEndpointSource).");
    }

    [Fact]
    public async Task MalformedJson_IsOneLineNamingTheFileLineAndPosition()
    {
        var run = await RunAsync("""
            { "Proxy": { "Listeners": [ { "Url": "http://127.0.0.1:0" } ]
              "Routes": [] } }
            """);

        run.AssertConfigurationErrors($"{run.ConfigFile}:2:3: not valid JSON: '\"' is invalid after a value. Expected either ',', '}}', or ']'.");
    }

    [Fact]
    public async Task AListenerOnTheAdminPort_IsAConfigurationError()
    {
        var port = FreePort();
        var run = await RunAsync($$"""
            { "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:{{port}}" } ], "Admin": { "Url": "http://127.0.0.1:{{port}}" },
                "Routes": [ { "Path": "/", "Cluster": "web" } ],
                "Clusters": { "web": { "Endpoints": [ { "Address": "127.0.0.1:9000" } ] } } } }
            """);

        run.AssertConfigurationErrors($"Proxy:Admin:Url: 'http://127.0.0.1:{port}' takes port {port}, which Proxy:Listeners:0:Url ('http://127.0.0.1:{port}') listens on; the admin endpoint needs a port of its own.");
    }

    [Fact]
    public async Task APortInUse_IsOneLineNamingTheListener()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var run = await RunAsync($$"""
            { "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:0" }, { "Url": "http://127.0.0.1:{{port}}" } ], "Admin": { "Url": "http://127.0.0.1:0" },
                "Routes": [ { "Path": "/", "Cluster": "web" } ],
                "Clusters": { "web": { "Endpoints": [ { "Address": "127.0.0.1:9000" } ] } } } }
            """);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal([$"Proxy:Listeners:1:Url: cannot listen on http://127.0.0.1:{port}: the address is already in use (by another process, or another listener of this one)."], run.ErrorLines);
        run.AssertNoStackTrace();
    }

    [Fact]
    public async Task APortTakenByAnotherEventLoopProxy_IsOneLineNamingTheListener()
    {
        // The event-loop transport listens with SO_REUSEPORT; so does this stand-in for another instance of it. Joining
        // its group would silently take a share of its connections: it must fail as a port in use.
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the event-loop transport is Linux's");
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.SetRawSocketOption(1, 15, BitConverter.GetBytes(1)); // SOL_SOCKET, SO_REUSEPORT
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        var port = ((IPEndPoint)taken.LocalEndPoint!).Port;

        var run = await RunAsync($$"""
            { "Proxy": {
                "Transport": "EventLoop",
                "Listeners": [ { "Url": "http://127.0.0.1:{{port}}" } ], "Admin": { "Url": "http://127.0.0.1:0" },
                "Routes": [ { "Path": "/", "Cluster": "web" } ],
                "Clusters": { "web": { "Endpoints": [ { "Address": "127.0.0.1:9000" } ] } } } }
            """);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal([$"Proxy:Listeners:0:Url: cannot listen on http://127.0.0.1:{port}: the address is already in use (by another process, or another listener of this one)."], run.ErrorLines);
        run.AssertNoStackTrace();
    }

    [Fact]
    public async Task AnAdminEndpointOffLoopback_IsWarnedAbout()
    {
        // The proxy listener's port is taken, so the host stops before it binds the admin endpoint: nothing listens
        // beyond loopback.
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var run = await RunAsync($$"""
            { "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:{{port}}" } ], "Admin": { "Url": "http://0.0.0.0:0" },
                "Routes": [ { "Path": "/", "Cluster": "web" } ],
                "Clusters": { "web": { "Endpoints": [ { "Address": "127.0.0.1:9000" } ] } } } }
            """);

        Assert.Contains("warn: LoadBalancing.Proxy.Admin.AdminHandler[1]", run.Output, StringComparison.Ordinal);
        Assert.Contains("The admin endpoint listens on http://0.0.0.0:0, which is not a loopback address", run.Output, StringComparison.Ordinal);
        Assert.Equal(2, run.ExitCode);
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<HostRun> RunAsync(string json)
    {
        var file = Path.Combine(Path.GetTempPath(), $"proxyhost-config-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, json, TestContext.Current.CancellationToken);
        try
        {
            var host = Environment.GetEnvironmentVariable("PROXYHOST_UNDER_TEST") is { Length: > 0 } other ? other : Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "ProxyHost.exe" : "ProxyHost");
            var start = new ProcessStartInfo(host)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add("--config");
            start.ArgumentList.Add(file);
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);

            // A configuration error ends the host within a second or two; a host that started instead is killed.
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            deadline.CancelAfter(TimeSpan.FromSeconds(60));
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(TestContext.Current.CancellationToken);
                Assert.Fail($"The host was still running after 60 s. stdout:\n{await output}\nstderr:\n{await error}");
            }

            return new HostRun(file, process.ExitCode, await output, await error);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private sealed record HostRun(string ConfigFile, int ExitCode, string Output, string Error)
    {
        public string[] ErrorLines => Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        public void AssertConfigurationErrors(params string[] expected)
        {
            Assert.True(ExitCode == 2, $"exit code {ExitCode}; stderr:\n{Error}\nstdout:\n{Output}");
            Assert.Equal(["Invalid proxy configuration:", .. expected], ErrorLines);
            AssertNoStackTrace();
        }

        public void AssertNoStackTrace()
        {
            Assert.DoesNotContain("   at ", Error + Output, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", Error + Output, StringComparison.Ordinal);
        }
    }
}
