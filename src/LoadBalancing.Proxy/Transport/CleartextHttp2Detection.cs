using System.Buffers;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace LoadBalancing.Proxy.Transport;

/// <summary>
/// Lets one cleartext port serve HTTP/1.1 and prior-knowledge HTTP/2 (h2c, what gRPC clients speak without TLS), as
/// Envoy's and nginx's do. Kestrel runs every cleartext connection of an <c>Http1AndHttp2</c> endpoint as HTTP/1.1:
/// without ALPN it has nothing to choose by. This middleware reads a connection's first bytes; when they are HTTP/2's
/// connection preface (RFC 9113, section 3.4), it answers Kestrel's protocol choice with "h2", as a TLS handshake's
/// ALPN result would. Any other first bytes leave the connection to HTTP/1.1 as it was. Nothing is consumed, and it
/// costs one read per connection, none per request.
/// </summary>
/// <remarks>
/// Kestrel (10.0) reads the application protocol only when a TLS feature is present, so one stands in for the moment
/// of the choice and withdraws as the protocol is read: the connection's requests then have scheme <c>http</c> and
/// <c>IsHttps</c> false, as they should. Should a later Kestrel choose differently, the h2c connection fails (its
/// <c>:scheme</c> would not match); it never passes as TLS. The tests check both protocols on one port.
/// </remarks>
internal static class CleartextHttp2Detection
{
    /// <summary>Detects prior-knowledge HTTP/2 on <paramref name="listen"/>; a client silent for <paramref name="timeout"/> is closed.</summary>
    public static void Use(ListenOptions listen, TimeSpan timeout) =>
        listen.Use(next => context => DetectAsync(next, context, timeout));

    private static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    private static async Task DetectAsync(ConnectionDelegate next, ConnectionContext context, TimeSpan timeout)
    {
        var input = context.Transport.Input;
        CancellationTokenSource? silence = null;
        bool http2;
        try
        {
            while (true)
            {
                // Most clients send at once: the bytes are often there already, and then no timer is started.
                if (!input.TryRead(out var result))
                {
                    silence ??= new CancellationTokenSource(timeout);
                    result = await input.ReadAsync(silence.Token);
                }

                var buffer = result.Buffer;
                var length = (int)Math.Min(buffer.Length, Preface.Length);
                var matches = StartsLikePreface(buffer, length);
                if (!matches || length == Preface.Length || result.IsCompleted)
                {
                    // Nothing consumed: Kestrel reads these bytes again.
                    input.AdvanceTo(buffer.Start);
                    http2 = matches && length == Preface.Length;
                    break;
                }

                // A prefix of the preface so far: wait for more bytes.
                input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (OperationCanceledException) when (silence?.IsCancellationRequested == true)
        {
            // Kestrel would have closed a connection that sends no request for this long too.
            return;
        }
        finally
        {
            silence?.Dispose();
        }

        if (http2)
        {
            var choice = new PriorKnowledge(context.Features);
            context.Features.Set<ITlsConnectionFeature>(choice);
            context.Features.Set<ITlsApplicationProtocolFeature>(choice);
        }

        await next(context);
    }

    private static bool StartsLikePreface(in ReadOnlySequence<byte> buffer, int length)
    {
        Span<byte> start = stackalloc byte[Preface.Length];
        buffer.Slice(0, length).CopyTo(start);
        return start[..length].SequenceEqual(Preface[..length]);
    }

    /// <summary>The protocol choice: present as TLS until Kestrel reads the protocol, then gone.</summary>
    private sealed class PriorKnowledge(IFeatureCollection features) : ITlsConnectionFeature, ITlsApplicationProtocolFeature
    {
        private static readonly ReadOnlyMemory<byte> H2 = "h2"u8.ToArray();

        public ReadOnlyMemory<byte> ApplicationProtocol
        {
            get
            {
                features.Set<ITlsConnectionFeature>(null);
                return H2;
            }
        }

        public X509Certificate2? ClientCertificate
        {
            get => null;
            set { }
        }

        public Task<X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) => Task.FromResult<X509Certificate2?>(null);
    }
}
