using System.Collections.Concurrent;
using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Tests.UpstreamTls;

/// <summary>A real Kestrel HTTPS server on a loopback address; counts TLS handshakes and records each request's connection and client certificate.</summary>
internal sealed class TlsBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _handshakes;

    private TlsBackend(WebApplication app, string address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>ip:port.</summary>
    public string Address { get; }

    /// <summary>Handshakes started (Kestrel's OnAuthenticate runs once per TLS connection).</summary>
    public int Handshakes => Volatile.Read(ref _handshakes);

    public ConcurrentQueue<(string ConnectionId, string? ClientCertificate)> Requests { get; } = new();

    /// <summary>Starts a backend answering 200 "hello over tls" with <paramref name="certificate"/>.</summary>
    /// <param name="certificate">The server certificate, with its key.</param>
    /// <param name="ip">The loopback address to listen on.</param>
    /// <param name="requireClientCertificate">Refuse clients without a certificate.</param>
    /// <param name="protocols">The TLS versions offered; null for the system's default.</param>
    /// <param name="handler">Answers requests instead of the greeting.</param>
    /// <param name="configure">Adds middleware before the handler.</param>
    public static async Task<TlsBackend> StartAsync(
        X509Certificate2 certificate, string ip, bool requireClientCertificate = false, SslProtocols? protocols = null, RequestDelegate? handler = null, Action<WebApplication>? configure = null,
        Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols http = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1AndHttp2)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        TlsBackend? self = null;
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Parse(ip), 0, listen => listen.UseProtocols(http).UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            ClientCertificateMode = requireClientCertificate ? ClientCertificateMode.RequireCertificate : ClientCertificateMode.NoCertificate,

            // The test checks which certificate arrived; trusting it is not this server's concern here.
            ClientCertificateValidation = (_, _, _) => true,
            SslProtocols = protocols ?? SslProtocols.None,
            OnAuthenticate = (_, _) => Interlocked.Increment(ref self!._handshakes),
        })));
        var app = builder.Build();
        configure?.Invoke(app);
        app.Run(context =>
        {
            self!.Requests.Enqueue((context.Connection.Id, context.Connection.ClientCertificate?.Subject));
            return handler is null ? context.Response.WriteAsync("hello over tls") : handler(context);
        });
        await app.StartAsync();
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new TlsBackend(app, new Uri(bound).Authority);
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

internal static class ListenProtocols
{
    public static Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions UseProtocols(this Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions listen, Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols protocols)
    {
        listen.Protocols = protocols;
        return listen;
    }
}
