using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using LoadBalancing.Proxy.Upstream.Tls;

namespace LoadBalancing.Proxy.Upstream.Multiplexed;

/// <summary>
/// The HTTP/2 client of one endpoint: a <see cref="SocketsHttpHandler"/> (the client YARP and grpc-dotnet use) that
/// multiplexes requests over as few connections as the endpoint's stream limit allows. One per endpoint rather than
/// one per cluster: an endpoint that leaves takes its connections with it, and the connect step is the proxy's own, so
/// a connect failure is told apart from a failure after the request was sent.
/// </summary>
internal sealed class MultiplexedClient : IDisposable
{
    private readonly SocketsHttpHandler _handler;

    /// <param name="endpoint">Where to connect.</param>
    /// <param name="remote">The endpoint's address.</param>
    /// <param name="settings">The cluster's current options: the connect timeout is read at each connect, so a reload that changes it applies.</param>
    /// <param name="time">The clock of the connect timeout.</param>
    /// <param name="tls">The cluster's TLS settings; null for h2c.</param>
    public MultiplexedClient(BackendEndpoint endpoint, EndPoint remote, Func<ClusterOptions> settings, TimeProvider time, UpstreamTlsSettings? tls = null)
    {
        var options = settings();

        // Over TLS the handshake is ours (the cluster's cached options, reloaded certificate files, its error kinds, its
        // ServerName rather than the Host header the handler would take), offering h2 by ALPN, or h2 and http/1.1 for
        // Auto; the handler takes an SslStream from the connect step as the connection's TLS and follows its ALPN result.
        var alpn = options.Protocol == UpstreamProtocol.Auto ? UpstreamTlsSettings.Http2OrHttp11 : SslApplicationProtocol.Http2;
        _handler = new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ActivityHeadersPropagator = null,
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = options.PooledConnectionIdleTimeout,
            MaxResponseHeadersLength = Math.Max(1, options.MaxResponseHeaderBytes / 1024),

            // A long stream on a connection whose peer vanished (a pod's node gone) is noticed by PING, not by waiting.
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            ConnectCallback = (context, cancellationToken) => ConnectAsync(remote, settings().ConnectTimeout, time, tls, endpoint.Address, alpn, cancellationToken),
        };
        Invoker = new HttpMessageInvoker(_handler, disposeHandler: true);
        Scheme = tls is null ? "http" : "https";
        var host = endpoint.Address.Contains(':', StringComparison.Ordinal) ? $"[{endpoint.Address}]" : endpoint.Address;
        BaseAddress = $"{Scheme}://{host}:{endpoint.Port}";
        VersionPolicy = tls is not null && options.Protocol == UpstreamProtocol.Auto ? HttpVersionPolicy.RequestVersionOrLower : HttpVersionPolicy.RequestVersionExact;
    }

    public HttpMessageInvoker Invoker { get; }

    /// <summary><c>http</c> (h2c) or <c>https</c> (over the proxy's own TLS handshake).</summary>
    public string Scheme { get; }

    /// <summary>The scheme and authority request URIs start with.</summary>
    public string BaseAddress { get; }

    /// <summary>Exact HTTP/2 for prior knowledge; HTTP/2 or lower when ALPN may choose.</summary>
    public HttpVersionPolicy VersionPolicy { get; }

    private static async ValueTask<Stream> ConnectAsync(EndPoint remote, TimeSpan timeout, TimeProvider time, UpstreamTlsSettings? tls, string host, SslApplicationProtocol alpn, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timer = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            await socket.ConnectAsync(remote, linked.Token).ConfigureAwait(false);
            var stream = new NetworkStream(socket, ownsSocket: true);
            return tls is null
                ? stream
                : await tls.AuthenticateAsync(stream, host, alpn, linked.Token).ConfigureAwait(false);
        }
        catch (UpstreamTlsException)
        {
            socket.Dispose();
            throw;
        }
        catch (OperationCanceledException) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new SocketException((int)SocketError.TimedOut);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose() => Invoker.Dispose();
}
