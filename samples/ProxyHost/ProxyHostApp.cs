using System.Globalization;
using LoadBalancing.Proxy;

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
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });

        if (FindConfigFile(args) is { } file)
        {
            var path = Path.GetFullPath(file);
            if (!File.Exists(path))
            {
                throw new ProxyConfigurationException([$"--config: file '{path}' does not exist."]);
            }

            // The named file replaces appsettings.json's proxy settings; the command line still wins.
            builder.Configuration.Sources.Clear();
            builder.Configuration.AddJsonFile(path, optional: false).AddEnvironmentVariables().AddCommandLine(args);
        }

        // ASP.NET Core's hosting diagnostics open a log scope and an Activity for every request whenever that
        // category logs at any level (Critical included). A proxy pays that on every forwarded request (about
        // 600 bytes and a trace id string each); its own metrics and /backends carry what operators need.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);

        DemoBackends? backends = null;
        var demo = builder.Configuration.GetSection("DemoBackends");
        var count = demo.GetValue<int?>("Count") ?? 0;
        if (count > 0)
        {
            var cluster = demo["Cluster"] ?? "demo";
            var latencies = demo.GetSection("LatencyMilliseconds").Get<int[]>() ?? [];
            backends = await DemoBackends.StartAsync(count, latencies).ConfigureAwait(false);
            var endpoints = new Dictionary<string, string?>();
            for (var i = 0; i < backends.Addresses.Count; i++)
            {
                endpoints[string.Create(CultureInfo.InvariantCulture, $"Proxy:Clusters:{cluster}:Endpoints:{i}:Address")] = backends.Addresses[i];
            }

            builder.Configuration.AddInMemoryCollection(endpoints);
        }

        try
        {
            var options = ProxyConfiguration.Load(builder.Configuration.GetSection(ProxyConfiguration.SectionName));
            builder.Services.AddLoadBalancingProxy(options);
            builder.WebHost.UseLoadBalancingProxyListeners(options);
            var app = builder.Build();
            app.UseLoadBalancingProxy();
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

    private static string? FindConfigFile(string[] args)
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
