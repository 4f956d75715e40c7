using System.Globalization;
using LoadBalancing.Kubernetes;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Kubernetes;

namespace ProxyHost;

/// <summary>
/// Builds the proxy host: configuration from <c>appsettings.json</c> next to the program, an optional
/// <c>--config FILE</c>, environment variables and command-line overrides (<c>--Proxy:Listeners:0:Url=...</c>);
/// the built-in demo backends when <c>DemoBackends:Count</c> is above zero.
/// </summary>
public static class ProxyHostApp
{
    /// <summary>Builds the host. The caller runs it and disposes the returned backends after it stops.</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <returns>The application and the demo backends it routes to (if any).</returns>
    /// <exception cref="ProxyConfigurationException">The configuration is invalid; the message names every bad key.</exception>
    public static async Task<(WebApplication App, DemoBackends? Backends)> BuildAsync(string[] args)
    {
        var builder = ReadingJson(() => WebApplication.CreateBuilder(new WebApplicationOptions
        {
            // The host reads its configuration once; a file watcher per configuration file would only hold an
            // inotify instance each (a small, per-user kernel limit that test runs and sidecars share).
            Args = [.. args, "--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        }));

        string? configFile = null;
        if (FindConfigFile(args) is { } file)
        {
            var path = configFile = Path.GetFullPath(file);
            if (!File.Exists(path))
            {
                throw new ProxyConfigurationException([$"--config: file '{path}' does not exist."]);
            }

            // The named file replaces appsettings.json's proxy settings; the command line still wins.
            builder.Configuration.Sources.Clear();
            ReadingJson(() => builder.Configuration.AddJsonFile(path, optional: false).AddEnvironmentVariables().AddCommandLine(args));
        }

        HostDefaults.AddUnder(builder.Configuration);

        // ASP.NET Core's hosting diagnostics open a log scope and an Activity for every request whenever that
        // category logs at any level (Critical included). A proxy pays that on every forwarded request (about
        // 600 bytes and a trace id string each); its own metrics and /backends carry what operators need.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);

        // Program reports a listener that cannot bind as one line naming its key; the host's own "Hosting failed to
        // start" error would repeat it with a stack trace. Errors after start (a faulted service) are still logged.
        var starting = new StartupPhase();
        builder.Services.Configure<LoggerFilterOptions>(filters => filters.Rules.Add(new LoggerFilterRule(
            providerName: null,
            categoryName: "Microsoft.Extensions.Hosting.Internal.Host",
            logLevel: LogLevel.Warning,
            filter: (_, _, level) => !(starting.Active && level == LogLevel.Error))));

        var errors = new List<string>();
        var demo = builder.Configuration.GetSection("DemoBackends");
        var count = ReadDemoCount(demo, errors);
        var latencies = ReadDemoLatencies(demo, errors);
        if (errors.Count > 0)
        {
            throw new ProxyConfigurationException(errors);
        }

        DemoBackends? backends = null;
        Dictionary<string, string?> demoEndpoints = [];
        if (count > 0)
        {
            var cluster = demo["Cluster"] ?? "demo";
            backends = await DemoBackends.StartAsync(count, latencies).ConfigureAwait(false);
            var endpoints = demoEndpoints;
            for (var i = 0; i < backends.Addresses.Count; i++)
            {
                endpoints[string.Create(CultureInfo.InvariantCulture, $"Proxy:Clusters:{cluster}:Endpoints:{i}:Address")] = backends.Addresses[i];
            }

            builder.Configuration.AddInMemoryCollection(endpoints);
        }

        try
        {
            // Every problem of both sections in one run: the Kubernetes section is read even when the proxy's has errors.
            // No cluster is fed from code here, so a cluster without endpoints is reported with everything else.
            ProxyConfiguration.TryLoad(builder.Configuration.GetSection(ProxyConfiguration.SectionName), fedInCode: static _ => false, out var options, out var proxyErrors);
            errors.AddRange(proxyErrors);
            ProxyKubernetesConfiguration.TryLoad(builder.Configuration.GetSection(KubernetesDiscoveryOptionsValidation.SectionName), options, out var discovery, out var routing, out var discoveryErrors);
            errors.AddRange(discoveryErrors);
            if (errors.Count > 0)
            {
                throw new ProxyConfigurationException(errors);
            }

            var proxy = builder.Services.AddLoadBalancingProxy(options);
            if (discovery is not null)
            {
                proxy.UseKubernetesDiscovery(discovery);
                if (routing.AnyEnabled)
                {
                    proxy.UseKubernetesControllers(discovery, routing);
                }
            }

            // The configuration is read again as at start (file, environment, command line, demo endpoints) on a change
            // of the --config file, on SIGHUP and on POST /config/reload.
            var jsonFile = configFile ?? Path.Combine(AppContext.BaseDirectory, "appsettings.json");
            proxy.UseConfigurationReload(reload =>
            {
                reload.Read = () => ReadProxySection(jsonFile, required: configFile is not null, args, demoEndpoints);
                reload.WatchFile = configFile;
            });

            builder.WebHost.UseLoadBalancingProxyListeners(options);
            var app = builder.Build();
            app.UseLoadBalancingProxy();
            app.Lifetime.ApplicationStarted.Register(() => starting.Active = false);
            return (app, backends);
        }
        catch
        {
            if (backends is not null)
            {
                await backends.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <summary>
    /// The <c>Proxy</c> section as a reload sees it. The file is read into memory rather than through a file provider,
    /// which could hold a watcher (an inotify instance) for a configuration root that is thrown away.
    /// </summary>
    private static IConfiguration ReadProxySection(string file, bool required, string[] args, Dictionary<string, string?> demoEndpoints)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(HostDefaults.Values);
        if (required || File.Exists(file))
        {
            configuration.AddJsonStream(new MemoryStream(File.ReadAllBytes(file)));
        }

        configuration.AddEnvironmentVariables().AddCommandLine(args).AddInMemoryCollection(demoEndpoints);
        try
        {
            return configuration.Build().GetSection(ProxyConfiguration.SectionName);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or FormatException or InvalidDataException)
        {
            throw new ProxyConfigurationException([DescribeJsonError(file, e)]);
        }
    }

    /// <summary>Runs a step that loads JSON configuration, turning a syntax error into one line naming the file, line and position.</summary>
    private static T ReadingJson<T>(Func<T> load)
    {
        try
        {
            return load();
        }
        catch (InvalidDataException e)
        {
            throw new ProxyConfigurationException([DescribeJsonError(e)]);
        }
    }

    private static string DescribeJsonError(InvalidDataException e)
    {
        // "Failed to load configuration from file '/etc/proxy.json'." is the provider's message; the file is quoted in it.
        var first = e.Message.IndexOf('\'', StringComparison.Ordinal);
        var last = e.Message.LastIndexOf('\'');
        var file = first >= 0 && last > first ? e.Message[(first + 1)..last] : "configuration file";
        return DescribeJsonError(file, e.InnerException ?? e);
    }

    private static string DescribeJsonError(string file, Exception e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is System.Text.Json.JsonException { LineNumber: { } line, BytePositionInLine: { } position } json)
            {
                // The reader's message ends with its own zero-based " LineNumber: 3 | BytePositionInLine: 4.".
                var message = json.Message;
                var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
                message = (cut >= 0 ? message[..cut] : message).Trim();
                return string.Create(CultureInfo.InvariantCulture, $"{file}:{line + 1}:{position + 1}: not valid JSON: {message}");
            }
        }

        // A duplicate key or a top-level value that is not an object carries no position.
        var reason = e.Message;
        return $"{file}: not valid JSON: {reason}";
    }

    private static int ReadDemoCount(IConfigurationSection demo, List<string> errors)
    {
        if (demo["Count"] is not { } text)
        {
            return 0;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var count) || count < 0)
        {
            errors.Add($"{demo.Path}:Count: '{text}' is not a whole number of 0 or more.");
            return 0;
        }

        return count;
    }

    private static int[] ReadDemoLatencies(IConfigurationSection demo, List<string> errors)
    {
        var latencies = new List<int>();
        foreach (var item in demo.GetSection("LatencyMilliseconds").GetChildren())
        {
            if (!int.TryParse(item.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var latency) || latency < 0)
            {
                errors.Add($"{item.Path}: '{item.Value}' is not a whole number of milliseconds.");
                continue;
            }

            latencies.Add(latency);
        }

        return [.. latencies];
    }

    /// <summary>Whether the host is still starting; read by a log filter on every host log call.</summary>
    private sealed class StartupPhase
    {
        private volatile bool _active = true;

        public bool Active
        {
            get => _active;
            set => _active = value;
        }
    }

    internal static string? FindConfigFile(string[] args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--config" && i + 1 < args.Length)
            {
                return args[i + 1];
            }

            if (args[i].StartsWith("--config=", StringComparison.Ordinal))
            {
                return args[i]["--config=".Length..];
            }
        }

        return null;
    }
}
