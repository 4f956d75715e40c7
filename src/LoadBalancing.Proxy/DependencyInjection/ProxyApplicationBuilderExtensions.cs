using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Admin;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds the proxy to the request pipeline.</summary>
public static class ProxyApplicationBuilderExtensions
{
    /// <summary>
    /// Ends the pipeline with the proxy: requests on the admin listener go to the admin endpoints, all others
    /// are routed and forwarded. Readiness fails as soon as the host starts stopping.
    /// </summary>
    /// <param name="app">The application.</param>
    /// <returns>The application.</returns>
    public static IApplicationBuilder UseLoadBalancingProxy(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var services = app.ApplicationServices;
        var runtime = services.GetRequiredService<ProxyRuntime>();
        var proxy = services.GetRequiredService<ProxyMiddleware>();
        var admin = services.GetRequiredService<AdminHandler>();
        var listeners = services.GetRequiredService<ProxyListeners>();
        services.GetService<IHostApplicationLifetime>()?.ApplicationStopping.Register(() => runtime.Draining = true);

        app.Run(context => listeners.IsAdmin(context.Connection.LocalPort)
            ? admin.HandleAsync(context)
            : proxy.InvokeAsync(context));
        return app;
    }
}
