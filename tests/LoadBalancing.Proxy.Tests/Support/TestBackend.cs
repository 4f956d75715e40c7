using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>What a backend saw of one request.</summary>
internal sealed record SeenRequest(string Method, string Target, string Protocol, string ConnectionId, IReadOnlyDictionary<string, string> Headers);

/// <summary>A real Kestrel server on a loopback address standing in for a pod; records every request.</summary>
internal sealed class TestBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestBackend(WebApplication app, string name, string address)
    {
        _app = app;
        Name = name;
        Address = address;
    }

    public string Name { get; }

    /// <summary>ip:port.</summary>
    public string Address { get; }

    public ConcurrentQueue<SeenRequest> Requests { get; } = new();

    public IReadOnlyCollection<string> ConnectionIds => Requests.Select(r => r.ConnectionId).Distinct().ToArray();

    /// <summary>Starts a backend; by default it answers 200 with its name.</summary>
    public static async Task<TestBackend> StartAsync(string name, string ip = "127.0.0.1", RequestDelegate? handler = null, Action<WebApplication>? configure = null, int port = 0, Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols? protocols = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Parse(ip), port, listen =>
            {
                if (protocols is { } p)
                {
                    listen.Protocols = p;
                }
            });
            k.Limits.MaxRequestBodySize = null;
        });
        var app = builder.Build();
        TestBackend? self = null;
        app.Use(async (context, next) =>
        {
            var request = context.Request;
            var headers = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
            self!.Requests.Enqueue(new SeenRequest(request.Method, request.Path + request.QueryString, request.Protocol, context.Connection.Id, headers));
            await next(context);
        });
        configure?.Invoke(app);
        app.Run(handler ?? (context => context.Response.WriteAsync(name)));
        await app.StartAsync();
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new TestBackend(app, name, new Uri(bound).Authority);
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
