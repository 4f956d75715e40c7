using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Http.Tests.Support;

/// <summary>
/// A real HTTP/1.1 server (Kestrel) on a loopback address standing in for one endpoint of a service. Every request is
/// answered with the backend's name and counted; <see cref="Status"/> changes the status, <see cref="Abort"/> drops the
/// connection after reading the whole request (so the server has seen it), and <see cref="OnRequest"/> runs first
/// (a test advances its fake clock there to make a backend "slow" without waiting).
/// </summary>
internal sealed class HttpBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _calls;
    private int _posts;

    private HttpBackend(WebApplication app, string name, IPEndPoint endPoint)
    {
        _app = app;
        Name = name;
        EndPoint = endPoint;
    }

    public string Name { get; }

    public IPEndPoint EndPoint { get; }

    public string Ip => EndPoint.Address.ToString();

    public int Port => EndPoint.Port;

    /// <summary>How many requests reached this backend.</summary>
    public int Calls => Volatile.Read(ref _calls);

    /// <summary>How many POST requests reached this backend.</summary>
    public int Posts => Volatile.Read(ref _posts);

    public int Status { get; set; } = StatusCodes.Status200OK;

    public bool Abort { get; set; }

    public Action? OnRequest { get; set; }

    /// <summary>Awaited after <see cref="OnRequest"/>: a test holds a request in flight with it.</summary>
    public Func<Task>? OnRequestAsync { get; set; }

    public BackendEndpoint Endpoint => new(Ip, Port);

    public static async Task<HttpBackend> StartAsync(string name, string ip)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Parse(ip), 0));
        var app = builder.Build();
        HttpBackend? self = null;
        app.Run(async context =>
        {
            var backend = self!;
            Interlocked.Increment(ref backend._calls);
            if (HttpMethods.IsPost(context.Request.Method))
            {
                Interlocked.Increment(ref backend._posts);
            }

            await context.Request.Body.CopyToAsync(Stream.Null, context.RequestAborted);
            backend.OnRequest?.Invoke();
            if (backend.OnRequestAsync is { } hold)
            {
                await hold();
            }
            if (backend.Abort)
            {
                context.Abort();
                return;
            }

            context.Response.StatusCode = backend.Status;
            await context.Response.WriteAsync(backend.Name, context.RequestAborted);
        });
        await app.StartAsync();
        var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        self = new HttpBackend(app, name, new IPEndPoint(IPAddress.Parse(ip), bound.Port));
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(new CancellationToken(canceled: true));
        await _app.DisposeAsync();
    }
}

/// <summary>
/// A loopback port bound but not listening: every connection to it is refused at once, as to a stopped backend, and
/// no other process can take the port while the test runs.
/// </summary>
internal sealed class DownBackend : IDisposable
{
    private readonly Socket _socket;

    public DownBackend(string ip)
    {
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _socket.Bind(new IPEndPoint(IPAddress.Parse(ip), 0));
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
    }

    public IPEndPoint EndPoint { get; }

    public BackendEndpoint Endpoint => new(EndPoint.Address.ToString(), EndPoint.Port);

    public void Dispose() => _socket.Dispose();
}
