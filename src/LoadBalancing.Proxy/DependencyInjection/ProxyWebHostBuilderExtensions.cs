using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Forwarding;
using LoadBalancing.Proxy.Metrics;
using LoadBalancing.Proxy.Transport;
using LoadBalancing.Proxy.Transport.EventLoop;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Binds Kestrel to the proxy's listeners and admin endpoint.</summary>
public static class ProxyWebHostBuilderExtensions
{
    /// <summary>
    /// Makes Kestrel listen where <paramref name="options"/> says (proxy listeners with their HTTP versions
    /// and certificates, and the admin endpoint), and stops it adding its own <c>Server</c> header so the
    /// upstream's passes through. With <see cref="ProxyOptions.Transport"/> <see cref="ProxyTransport.EventLoop"/>, Kestrel
    /// listens on the proxy's epoll loops instead of its socket transport. Content-Length and Connection request fields are checked as Kestrel decodes them
    /// (a Content-Length that is not a plain number is refused; names a Connection field nominates are kept so the
    /// proxy can remove them), for every endpoint of this Kestrel server.
    /// </summary>
    /// <param name="builder">The web host builder.</param>
    /// <param name="options">The validated proxy options.</param>
    /// <returns>The builder.</returns>
    public static IWebHostBuilder UseLoadBalancingProxyListeners(this IWebHostBuilder builder, ProxyOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        var listeners = new ProxyListeners();
        builder.ConfigureServices(services =>
        {
            services.AddSingleton(listeners);
            if (options.Transport == ProxyTransport.EventLoop)
            {
                // Kestrel tries the transport registered last first; this one takes every IP end point.
                services.AddSingleton<IConnectionListenerFactory, EventLoopTransportFactory>();

                // /healthz fails while a loop is wedged, so the kubelet restarts the process (EpollLoopWatchdog). The check
                // joins the application's health checks when it has them (AddHealthChecks), without adding the service
                // to one that has none: the admin endpoint then runs it itself.
                services.Configure<HealthCheckServiceOptions>(health => health.Registrations.Add(
                    new HealthCheckRegistration(EventLoopLivenessCheck.Name, _ => new EventLoopLivenessCheck(), HealthStatus.Unhealthy, ["live"])));
            }

            // After every ConfigureKestrel, so an application's own selector is wrapped, not lost.
            services.AddSingleton<IPostConfigureOptions<KestrelServerOptions>>(sp =>
                new HeaderEncodingGuard(sp.GetService<ProxyRuntime>()?.Rejections ?? new RequestRejections()));
        });
        builder.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodySize;
            var certificates = kestrel.ApplicationServices?.GetService<ServerCertificates>()?.Source;
            CheckCertificates(options, certificates);
            for (var i = 0; i < options.Listeners.Count; i++)
            {
                var listener = options.Listeners[i];
                var key = $"{ProxyConfiguration.SectionName}:Listeners:{i}:Url";
                var https = IsHttps(listener);
                Listen(kestrel, listener.Url, listen =>
                {
                    var protocols = listener.Protocols switch
                    {
                        ListenerProtocols.Http1 => HttpProtocols.Http1,
                        ListenerProtocols.Http2 => HttpProtocols.Http2,
                        _ => HttpProtocols.Http1AndHttp2,
                    };

                    // Kestrel's default already; setting it again would make Kestrel warn that cleartext HTTP/2 needs
                    // TLS, which the detection below makes untrue.
                    if (listen.Protocols != protocols)
                    {
                        listen.Protocols = protocols;
                    }

                    if (!https && protocols == HttpProtocols.Http1AndHttp2)
                    {
                        CleartextHttp2Detection.Use(listen, kestrel.Limits.KeepAliveTimeout);
                    }
                    if (https && certificates is not null)
                    {
                        UseHttps(listen, certificates, listener);
                    }
                    else if (listener.CertificatePath is { } path)
                    {
                        listen.UseHttps(path, listener.CertificatePassword);
                    }

                    listeners.AddProxy(listen, key, listener.Url);
                });
            }

            if (options.Admin.Enabled)
            {
                Listen(kestrel, options.Admin.Url, listen =>
                {
                    listen.Protocols = HttpProtocols.Http1;
                    listeners.SetAdmin(listen, $"{ProxyConfiguration.SectionName}:Admin:Url", options.Admin.Url);
                });
            }
        });
        return builder;
    }

    private static bool IsHttps(ListenerOptions listener) => listener.Url.StartsWith("https:", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// An https listener needs a certificate of its own or a source of them. Options are validated before a source can
    /// be registered (the builder that registers one comes from validated options), so this is checked here, at start.
    /// </summary>
    private static void CheckCertificates(ProxyOptions options, ServerCertificateSource? certificates)
    {
        if (certificates is not null)
        {
            return;
        }

        var errors = new List<string>();
        for (var i = 0; i < options.Listeners.Count; i++)
        {
            if (IsHttps(options.Listeners[i]) && string.IsNullOrEmpty(options.Listeners[i].CertificatePath))
            {
                errors.Add($"{ProxyConfiguration.SectionName}:Listeners:{i}:CertificatePath: an https listener needs a certificate (a .pfx file), or a server certificate source (IProxyBuilder.UseServerCertificates).");
            }
        }

        if (errors.Count > 0)
        {
            throw new ProxyConfigurationException(errors);
        }
    }

    /// <summary>
    /// The source first, then the listener's own certificate, each with its intermediates. Chosen per handshake from
    /// the client's server name: the source's snapshot is read, nothing is built. With neither, the handshake fails.
    /// </summary>
    private static void UseHttps(ListenOptions listen, ServerCertificateSource certificates, ListenerOptions listener)
    {
        var fallback = listener.CertificatePath is { } path ? LoadWithChain(path, listener.CertificatePassword) : null;
        List<SslApplicationProtocol> alpn = listen.Protocols switch
        {
            HttpProtocols.Http1 => [SslApplicationProtocol.Http11],
            HttpProtocols.Http2 => [SslApplicationProtocol.Http2],
            _ => [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
        };
        listen.UseHttps(new TlsHandshakeCallbackOptions
        {
            OnConnection = context =>
            {
                var name = context.ClientHelloInfo.ServerName;
                var chosen = certificates.GetCertificateContext(string.IsNullOrEmpty(name) ? null : name) ?? fallback
                    ?? throw new AuthenticationException($"No certificate for the server name '{name}'.");
                return ValueTask.FromResult(new SslServerAuthenticationOptions { ServerCertificateContext = chosen, ApplicationProtocols = alpn });
            },
        });
    }

    /// <summary>A PKCS #12 file's certificate with a private key, and the file's other certificates as its intermediates.</summary>
    private static SslStreamCertificateContext LoadWithChain(string path, string? password)
    {
        var all = X509CertificateLoader.LoadPkcs12CollectionFromFile(path, password);
        var leaf = all.FirstOrDefault(c => c.HasPrivateKey) ?? all[0];
        var rest = new X509Certificate2Collection();
        foreach (var certificate in all)
        {
            if (!ReferenceEquals(certificate, leaf))
            {
                rest.Add(certificate);
            }
        }

        return SslStreamCertificateContext.Create(leaf, rest, offline: true);
    }

    private static void Listen(KestrelServerOptions kestrel, string url, Action<ListenOptions> configure)
    {
        var uri = new Uri(url);
        if (IPAddress.TryParse(uri.Host, out var address))
        {
            kestrel.Listen(address, uri.Port, configure);
        }
        else
        {
            kestrel.ListenLocalhost(uri.Port, configure);
        }
    }
}
