using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace ProxyHost;

/// <summary>
/// Small HTTP servers on loopback that answer with their own name, so the demo shows at once which backend
/// served each request. An optional per-backend delay makes peak-EWMA's preference for fast backends visible.
/// </summary>
public sealed class DemoBackends : IAsyncDisposable
{
    private readonly List<WebApplication> _apps = [];

    /// <summary>The backends' addresses, in order (<c>127.0.0.1:port</c>).</summary>
    public IReadOnlyList<string> Addresses { get; private set; } = [];

    /// <summary>Starts <paramref name="count"/> backends on free loopback ports.</summary>
    /// <param name="count">How many backends.</param>
    /// <param name="latencies">Per-backend delay in milliseconds (missing entries mean none).</param>
    /// <returns>The running backends.</returns>
    public static async Task<DemoBackends> StartAsync(int count, IReadOnlyList<int> latencies)
    {
        var backends = new DemoBackends();
        var addresses = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var name = $"backend-{i + 1}";
            var delay = i < latencies.Count ? latencies[i] : 0;
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            app.Run(async context =>
            {
                if (delay > 0)
                {
                    await Task.Delay(delay, context.RequestAborted).ConfigureAwait(false);
                }

                var local = $"{context.Connection.LocalIpAddress}:{context.Connection.LocalPort}";
                context.Response.ContentType = "text/plain";
                await context.Response.WriteAsync(
                    string.Create(CultureInfo.InvariantCulture, $"{name} ({local}) answered {context.Request.Method} {context.Request.Path}{context.Request.QueryString}\n"),
                    context.RequestAborted).ConfigureAwait(false);
            });
            await app.StartAsync().ConfigureAwait(false);
            backends._apps.Add(app);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            addresses.Add(new Uri(address).Authority);
        }

        backends.Addresses = addresses;
        return backends;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps)
        {
            await app.StopAsync().ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
