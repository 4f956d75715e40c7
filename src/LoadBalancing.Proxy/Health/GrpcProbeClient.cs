using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using LoadBalancing.Proxy.Upstream.Tls;

namespace LoadBalancing.Proxy.Health;

/// <summary>The HTTP/2 clients of gRPC probes.</summary>
internal static class GrpcProbeClient
{
    /// <summary>
    /// A client for gRPC probes: h2c with prior knowledge, or, given <paramref name="tls"/>, h2 over the cluster's own
    /// handshake (its server name, CA and client certificate; ALPN h2) to <paramref name="target"/>. Connections live
    /// briefly, so a probe never trusts a connection from long ago that a restarted endpoint no longer holds.
    /// </summary>
    public static HttpMessageInvoker Create(HealthProbeTarget? target = null, UpstreamTlsSettings? tls = null)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            ActivityHeadersPropagator = null,
            PooledConnectionLifetime = TimeSpan.FromSeconds(30),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        };

        if (target is not null && tls is not null)
        {
            // The handler takes the SslStream from the connect step as the connection's TLS.
            handler.ConnectCallback = (_, cancellationToken) => ConnectAsync(target, tls, cancellationToken);
        }

        return new HttpMessageInvoker(handler, disposeHandler: true);
    }

    private static async ValueTask<Stream> ConnectAsync(HealthProbeTarget target, UpstreamTlsSettings tls, CancellationToken cancellationToken)
    {
        var socket = target.EndPoint is IPEndPoint ip
            ? new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }
            : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(target.EndPoint, cancellationToken).ConfigureAwait(false);
            return await tls.AuthenticateAsync(new NetworkStream(socket, ownsSocket: true), target.Address, SslApplicationProtocol.Http2, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
