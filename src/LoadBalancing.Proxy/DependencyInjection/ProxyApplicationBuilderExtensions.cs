using System.Net;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Admin;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds the proxy to the request pipeline.</summary>
public static class ProxyApplicationBuilderExtensions
{
    /// <summary>
    /// Ends the pipeline with the proxy: requests on the admin listener go to the admin endpoints, all others
    /// are routed and forwarded. Readiness fails as soon as the host starts stopping. An admin endpoint on an address
    /// other than loopback is logged as a warning. Nothing after it runs, and endpoints the application maps are not
    /// reached; to serve the proxy beside the application's own endpoints, map it with
    /// <see cref="ProxyEndpointRouteBuilderExtensions.MapLoadBalancingProxy(Microsoft.AspNetCore.Routing.IEndpointRouteBuilder)"/> instead.
    /// </summary>
    /// <param name="app">The application.</param>
    /// <returns>The application.</returns>
    /// <exception cref="ProxyConfigurationException">A route names an ASP.NET Core policy (<c>AuthorizationPolicy</c>, <c>RateLimiterPolicy</c>), which only the mapped proxy can enforce (a reload that does is refused the same way).</exception>
    public static IApplicationBuilder UseLoadBalancingProxy(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var (runtime, proxy, admin, listeners) = Prepare(app.ApplicationServices);
        EnforcePolicyCheck(runtime, LoadBalancing.Proxy.Routing.RoutePolicyChecks.Unenforceable);
        app.Run(context => listeners.IsAdmin(context.Connection.LocalPort)
            ? admin.HandleAsync(context)
            : proxy.InvokeAsync(context));
        return app;
    }

    /// <summary>
    /// What both ways of serving the proxy (this terminal middleware, or endpoints) need: the runtime built (which
    /// validates the configuration with the sources registered in code), readiness tied to the host stopping, and the
    /// warning about an admin endpoint off loopback.
    /// </summary>
    internal static (ProxyRuntime Runtime, ProxyMiddleware Proxy, AdminHandler Admin, ProxyListeners Listeners) Prepare(IServiceProvider services)
    {
        var runtime = services.GetRequiredService<ProxyRuntime>();
        var proxy = services.GetRequiredService<ProxyMiddleware>();
        var admin = services.GetRequiredService<AdminHandler>();
        var listeners = services.GetRequiredService<ProxyListeners>();
        services.GetService<IHostApplicationLifetime>()?.ApplicationStopping.Register(() => runtime.Draining = true);
        var options = services.GetRequiredService<ProxyOptions>();
        if (options.Admin.Enabled && !IsLoopback(options.Admin.Url) && services.GetService<ILoggerFactory>() is { } loggers)
        {
            AdminLog.AdminNotLoopback(loggers.CreateLogger(typeof(AdminHandler).FullName!), options.Admin.Url);
        }

        return (runtime, proxy, admin, listeners);
    }

    /// <summary>Checks the routes' ASP.NET Core policies now, and on every reload from here on.</summary>
    /// <exception cref="ProxyConfigurationException">A route names a policy this hosting cannot enforce, or one that does not exist.</exception>
    internal static void EnforcePolicyCheck(ProxyRuntime runtime, Func<ProxyOptions, IReadOnlyList<string>> check)
    {
        runtime.EndpointPolicyCheck = check;
        if (check(runtime.Configured) is { Count: > 0 } errors)
        {
            throw new ProxyConfigurationException(errors);
        }
    }

    private static bool IsLoopback(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.IsLoopback || (IPAddress.TryParse(uri.Host, out var address) && IPAddress.IsLoopback(address)));
}
