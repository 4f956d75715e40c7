using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.Forwarding;

public sealed class Http2Tests
{
    [Fact]
    public async Task H2cInbound_IsForwardedAsHttp11()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2", async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            await context.Response.WriteAsync($"{context.Request.Protocol} {context.Request.Method} {await reader.ReadToEndAsync()}");
        });
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        options.Listeners[0].Protocols = ListenerProtocols.Http2;
        await using var proxy = await TestProxy.StartAsync(options);
        using var client = proxy.NewClient(HttpVersion.Version20);
        var ct = TestContext.Current.CancellationToken;

        using var get = await client.GetAsync("/h2", ct);
        Assert.Equal(HttpVersion.Version20, get.Version);
        Assert.Equal("HTTP/1.1 GET ", await get.Content.ReadAsStringAsync(ct));

        // An HTTP/2 body has no length unless the client sends one: it goes upstream chunked.
        using var content = new StreamContent(new MemoryStream("streamed body"u8.ToArray()));
        using var post = await client.PostAsync("/h2", content, ct);
        Assert.Equal("HTTP/1.1 POST streamed body", await post.Content.ReadAsStringAsync(ct));
        var forwarded = Assert.Single(backend.Requests, r => r.Method == "POST");
        Assert.True(forwarded.Headers.ContainsKey("Transfer-Encoding") ^ forwarded.Headers.ContainsKey("Content-Length"));
    }

    [Fact]
    public async Task TlsInbound_NegotiatesHttp2WithAlpn()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2", context => context.Response.WriteAsync(context.Request.Headers["X-Forwarded-Proto"].ToString()));
        var certificate = Path.Combine(Path.GetTempPath(), $"lb-proxy-test-{Guid.NewGuid():N}.pfx");
        var (pfx, thumbprint) = SelfSignedPfx();
        await File.WriteAllBytesAsync(certificate, pfx, TestContext.Current.CancellationToken);
        try
        {
            var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
            options.Listeners[0] = new ListenerOptions { Url = "https://127.0.0.1:0", CertificatePath = certificate, CertificatePassword = "test" };
            await using var proxy = await TestProxy.StartAsync(options);
            using var handler = new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == thumbprint } };
            using var client = new HttpClient(handler)
            {
                DefaultRequestVersion = HttpVersion.Version20,
                DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };

            using var response = await client.GetAsync($"https://{proxy.ProxyEndPoint}/", TestContext.Current.CancellationToken);

            Assert.Equal(HttpVersion.Version20, response.Version);
            Assert.Equal("https", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }
        finally
        {
            File.Delete(certificate);
        }
    }

    private static (byte[] Pfx, string Thumbprint) SelfSignedPfx()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        return (certificate.Export(X509ContentType.Pfx, "test"), certificate.GetCertHashString());
    }
}
