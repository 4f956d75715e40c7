using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

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
    public async Task DefaultCleartextListener_ServesHttp11AndPriorKnowledgeHttp2OnOnePort()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2", context =>
            context.Response.WriteAsync($"{context.Request.Headers["X-Forwarded-Proto"]} {context.Request.Path}"));
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        Assert.Null(options.Listeners[0].Protocols);
        await using var proxy = await TestProxy.StartAsync(options);
        var ct = TestContext.Current.CancellationToken;

        using var http1 = proxy.NewClient(HttpVersion.Version11);
        using var one = await http1.GetAsync("/one", ct);
        Assert.Equal((HttpVersion.Version11, "http /one"), (one.Version, await one.Content.ReadAsStringAsync(ct)));

        // The scheme is the connection's (http), not the TLS stand-in used to choose HTTP/2.
        using var http2 = proxy.NewClient(HttpVersion.Version20);
        using var two = await http2.GetAsync("/two", ct);
        Assert.Equal((HttpVersion.Version20, "http /two"), (two.Version, await two.Content.ReadAsStringAsync(ct)));

        // Several requests on the HTTP/2 connection, then HTTP/1.1 again on the same port.
        for (var i = 0; i < 3; i++)
        {
            using var again = await http2.GetAsync($"/two/{i}", ct);
            Assert.Equal((HttpVersion.Version20, $"http /two/{i}"), (again.Version, await again.Content.ReadAsStringAsync(ct)));
        }

        using var three = await http1.GetAsync("/three", ct);
        Assert.Equal((HttpVersion.Version11, "http /three"), (three.Version, await three.Content.ReadAsStringAsync(ct)));
        Assert.Equal(6, backend.Requests.Count);
    }

    [Fact]
    public async Task DefaultCleartextListener_APrefaceInPiecesIsHttp2_ANearMissIsHttp11()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        // The preface split over three sends (each a segment of its own on loopback): the detection waits for all of it
        // and answers with HTTP/2's SETTINGS frame (type 4 in the fourth byte of a frame header).
        using (var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp))
        {
            await socket.ConnectAsync(proxy.ProxyEndPoint, ct);
            foreach (var piece in new[] { "PRI * HT", "TP/2.0\r\n\r", "\nSM\r\n\r\n" })
            {
                await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes(piece), ct);
                await Task.Yield();
            }

            var frame = new byte[9];
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
            bound.CancelAfter(TimeSpan.FromSeconds(10));
            var read = 0;
            while (read < frame.Length)
            {
                var n = await socket.ReceiveAsync(frame.AsMemory(read), bound.Token);
                Assert.True(n > 0, "the proxy closed the connection instead of answering the preface");
                read += n;
            }

            Assert.Equal(4, frame[3]);
        }

        // Bytes that start like the preface but are not it are an HTTP/1.1 request line, and a bad one: Kestrel refuses
        // it in HTTP/1.1 (505 for the version), never as HTTP/2 and never upstream.
        var nearMiss = await proxy.SendRawAsync("PRI * HTTP/2.1\r\n\r\nSM\r\n\r\n", TimeSpan.FromSeconds(10));
        Assert.StartsWith("HTTP/1.1 505", nearMiss, StringComparison.Ordinal);
        Assert.Empty(backend.Requests);
    }

    [Fact]
    public async Task CleartextDetection_ClosesAConnectionThatSendsNothing_AfterKestrelsKeepAliveTimeout()
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
            LoadBalancing.Proxy.Transport.CleartextHttp2Detection.Use(listen, TimeSpan.FromMilliseconds(300))));
        await using var app = builder.Build();
        app.Run(context => context.Response.WriteAsync("ok"));
        await app.StartAsync(TestContext.Current.CancellationToken);
        var port = new Uri(app.Urls.First()).Port;

        // A silent client is closed once the timeout passes (bounded here at 10 s)...
        using var silent = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await silent.ConnectAsync(IPAddress.Loopback, port, TestContext.Current.CancellationToken);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        bound.CancelAfter(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await silent.ReceiveAsync(new byte[16], System.Net.Sockets.SocketFlags.None, bound.Token));

        // ...and one that speaks is served, HTTP/1.1 and HTTP/2 alike.
        foreach (var version in new[] { HttpVersion.Version11, HttpVersion.Version20 })
        {
            using var client = new HttpClient { DefaultRequestVersion = version, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
            using var response = await client.GetAsync($"http://127.0.0.1:{port}/", TestContext.Current.CancellationToken);
            Assert.Equal((version, "ok"), (response.Version, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)));
        }
    }

    [Fact]
    public async Task Http1Listener_RefusesPriorKnowledgeHttp2()
    {
        await using var backend = await TestBackend.StartAsync("a", "127.0.0.2");
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        options.Listeners[0].Protocols = ListenerProtocols.Http1;
        await using var proxy = await TestProxy.StartAsync(options);
        using var http2 = proxy.NewClient(HttpVersion.Version20);

        await Assert.ThrowsAsync<HttpRequestException>(() => http2.GetAsync("/", TestContext.Current.CancellationToken));
        Assert.Empty(backend.Requests);
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
