using System.Globalization;
using LoadBalancing.Kubernetes;
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
            var proxy = builder.Services.AddLoadBalancingProxy(options);
            AddKubernetesDiscovery(builder, proxy);
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

    /// <summary>
    /// Clusters with a <c>Kubernetes</c> Service are fed by EndpointSlice discovery; the <c>Kubernetes</c> section
    /// says how to reach the API server (in-cluster by default) and how fresh the view must be.
    /// </summary>
    private static void AddKubernetesDiscovery(WebApplicationBuilder builder, IProxyBuilder proxy)
    {
        var fed = proxy.Options.Clusters.Where(c => c.Value.Kubernetes is not null).ToArray();
        var section = builder.Configuration.GetSection(KubernetesDiscoveryOptionsValidation.SectionName);
        if (fed.Length == 0)
        {
            if (section.Exists())
            {
                throw new ProxyConfigurationException([$"{section.Path}: no cluster names a Kubernetes Service (Proxy:Clusters:<name>:Kubernetes), so this section is unused."]);
            }

            return;
        }

        KubernetesDiscoveryOptions discovery;
        try
        {
            discovery = KubernetesDiscoveryOptionsValidation.Bind(section);
        }
        catch (ArgumentException e)
        {
            throw new ProxyConfigurationException([e.Message]);
        }

        foreach (var (_, cluster) in fed)
        {
            var service = cluster.Kubernetes!;
            if (!discovery.Services.Any(s => s.Namespace == service.Namespace && s.Name == service.Service && s.Port == service.Port))
            {
                discovery.Services.Add(new ServiceReference { Namespace = service.Namespace, Name = service.Service, Port = service.Port });
            }
        }

        var errors = KubernetesDiscoveryOptionsValidation.GetErrors(discovery, section.Path);
        if (errors.Count > 0)
        {
            throw new ProxyConfigurationException(errors);
        }

        builder.Services.AddKubernetesDiscovery(discovery);
        foreach (var (name, cluster) in fed)
        {
            var service = cluster.Kubernetes!;
            proxy.UseEndpointSource(name, sp => sp.GetRequiredService<KubernetesDiscovery>().GetSource(service.Namespace, service.Service, service.Port), discovery.StaleAfter);
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
