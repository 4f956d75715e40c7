using System.Security.Cryptography;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.UpstreamTls;

/// <summary>Bodies and tunnels over upstream TLS: the socket loops read and write the SslStream in both directions.</summary>
public sealed class UpstreamTlsStreamingTests
{
    private const string Name = "api.internal";

    private static ProxyOptions Options(TlsPki pki, string endpoint)
    {
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, endpoint);
        options.Clusters["web"].Tls = new UpstreamTlsOptions { ServerName = Name, CaFile = pki.WriteCa() };
        return options;
    }

    [Fact(Timeout = 60_000)]
    public async Task LargeBodies_BothWays_ArriveIntact()
    {
        using var pki = new TlsPki();
        await using var backend = await TlsBackend.StartAsync(pki.Server(Name), "127.0.0.2", handler: async context =>
        {
            // Answers the upload's hash, then 3 MiB of a known pattern.
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                sha.AppendData(buffer, 0, read);
            }

            context.Response.Headers["X-Upload-Sha256"] = Convert.ToHexString(sha.GetHashAndReset());
            var block = Pattern(64 * 1024);
            for (var i = 0; i < 48; i++)
            {
                await context.Response.Body.WriteAsync(block, context.RequestAborted);
            }
        });
        await using var proxy = await TestProxy.StartAsync(Options(pki, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        var upload = RandomNumberGenerator.GetBytes(5 * 1024 * 1024 + 17);
        for (var round = 0; round < 2; round++)
        {
            using var response = await proxy.Client.PostAsync("/", new ByteArrayContent(upload), ct);
            var body = await response.Content.ReadAsByteArrayAsync(ct);

            Assert.Equal(Convert.ToHexString(SHA256.HashData(upload)), response.Headers.GetValues("X-Upload-Sha256").Single());
            Assert.Equal(48 * 64 * 1024, body.Length);
            Assert.True(body.AsSpan().SequenceEqual(Enumerable.Repeat(Pattern(64 * 1024), 48).SelectMany(b => b).ToArray()));
        }

        Assert.Equal(1, backend.Handshakes);
    }

    [Fact(Timeout = 30_000)]
    public async Task WebSocket_OverUpstreamTls_EchoesAndCloses()
    {
        using var pki = new TlsPki();
        await using var backend = await TlsBackend.StartAsync(
            pki.Server(Name),
            "127.0.0.2",
            handler: WebSocketEcho.RunAsync,
            configure: app => app.UseWebSockets());
        await using var proxy = await TestProxy.StartAsync(Options(pki, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        await WebSocketEcho.AssertRoundTripsAsync(new Uri($"ws://{proxy.ProxyEndPoint}/chat"), "over tls", ct);
    }

    private static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)(i * 31 + 7);
        }

        return bytes;
    }
}
