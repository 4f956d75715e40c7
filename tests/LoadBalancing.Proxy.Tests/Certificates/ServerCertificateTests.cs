using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using LoadBalancing.Proxy.Tests.Support;

namespace LoadBalancing.Proxy.Tests.Certificates;

/// <summary>
/// An https listener that takes its certificates from a <see cref="ServerCertificateSource"/>, over real TLS
/// handshakes on loopback: the client names a host (SNI) and the test reads which certificate the proxy presented.
/// </summary>
public sealed class ServerCertificateTests : IDisposable
{
    private readonly X509Certificate2 _a = TestCertificates.Create("a.test");
    private readonly X509Certificate2 _b = TestCertificates.Create("*.b.test", rsa: true);
    private readonly X509Certificate2 _renewed = TestCertificates.Create("a.test");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Handshake_PresentsTheSourcesCertificateForTheServerName()
    {
        await using var backend = await TestBackend.StartAsync("web", "127.0.0.2");
        var source = new SwappableSource(ServerCertificateSet.Empty.Add(["a.test"], _a).Add(["*.b.test"], _b));
        await using var proxy = await StartAsync(backend, source, certificatePath: null);

        Assert.Equal(_a.Thumbprint, await HandshakeAsync(proxy.ProxyEndPoint, "a.test"));
        Assert.Equal(_a.Thumbprint, await HandshakeAsync(proxy.ProxyEndPoint, "A.TEST"));
        Assert.Equal(_b.Thumbprint, await HandshakeAsync(proxy.ProxyEndPoint, "x.b.test"));
        Assert.Equal("HTTP/1.1 200 OK", await GetStatusLineAsync(proxy.ProxyEndPoint, "x.b.test")); // and it forwards
    }

    [Fact]
    public async Task Handshake_SendsTheIntermediatesTheSetWasGiven()
    {
        await using var backend = await TestBackend.StartAsync("web", "127.0.0.2");
        var issued = TestCertificates.Issue("chain.test");
        await using var proxy = await StartAsync(backend, ServerCertificateSet.Empty.Add(["chain.test"], issued.Leaf, [issued.Intermediate]), certificatePath: null);

        var (leaf, sent) = await HandshakeWithChainAsync(proxy.ProxyEndPoint, "chain.test");

        Assert.Equal(issued.Leaf.Thumbprint, leaf);
        Assert.Contains(issued.Intermediate.Thumbprint, sent);
    }

    [Fact]
    public async Task Handshake_FailsWhenNoCertificateMatches_AndThereIsNoFallback()
    {
        await using var backend = await TestBackend.StartAsync("web", "127.0.0.2");
        var source = new SwappableSource(ServerCertificateSet.Empty.Add(["a.test"], _a));
        await using var proxy = await StartAsync(backend, source, certificatePath: null);

        var error = await Record.ExceptionAsync(() => HandshakeAsync(proxy.ProxyEndPoint, "other.test"));

        Assert.True(error is AuthenticationException or IOException, $"expected a failed handshake; got {error}");
        Assert.Equal(_a.Thumbprint, await HandshakeAsync(proxy.ProxyEndPoint, "a.test")); // the listener still serves others
    }

    [Fact]
    public async Task Handshake_AfterTheSourceSwapsItsSet_PresentsTheNewCertificate()
    {
        await using var backend = await TestBackend.StartAsync("web", "127.0.0.2");
        var source = new SwappableSource(ServerCertificateSet.Empty.Add(["a.test"], _a));
        await using var proxy = await StartAsync(backend, source, certificatePath: null);
        Assert.Equal(_a.Thumbprint, await HandshakeAsync(proxy.ProxyEndPoint, "a.test"));

        source.Set = ServerCertificateSet.Empty.Add(["a.test"], _renewed).Add(["*.b.test"], _b);

        Assert.Equal(_renewed.Thumbprint, await HandshakeAsync(proxy.ProxyEndPoint, "a.test"));
        Assert.Equal(_b.Thumbprint, await HandshakeAsync(proxy.ProxyEndPoint, "y.b.test"));
    }

    [Fact]
    public async Task Handshake_FallsBackToTheListenersOwnCertificate()
    {
        await using var backend = await TestBackend.StartAsync("web", "127.0.0.2");
        var path = Path.Combine(Path.GetTempPath(), $"lb-proxy-test-{Guid.NewGuid():N}.pfx");
        await File.WriteAllBytesAsync(path, TestCertificates.Pfx("fallback.test", "test"), Ct);
        try
        {
            using var fallback = X509CertificateLoader.LoadPkcs12FromFile(path, "test");
            var source = new SwappableSource(ServerCertificateSet.Empty.Add(["a.test"], _a));
            await using var proxy = await StartAsync(backend, source, path);

            Assert.Equal(fallback.Thumbprint, await HandshakeAsync(proxy.ProxyEndPoint, "other.test"));
            Assert.Equal(fallback.Thumbprint, await HandshakeAsync(proxy.ProxyEndPoint, "a.b.test"));
            Assert.Equal(_a.Thumbprint, await HandshakeAsync(proxy.ProxyEndPoint, "a.test"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task AnHttpsListenerWithoutACertificate_IsRefusedAtStart_WhenNoSourceIsRegistered()
    {
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, "127.0.0.2:1");
        options.Listeners.Add(new ListenerOptions { Url = "https://127.0.0.1:0" });
        ProxyConfiguration.Validate(options); // the options alone are valid: a source may supply the certificates

        var error = await Assert.ThrowsAsync<ProxyConfigurationException>(async () => await TestProxy.StartAsync(options));

        Assert.Equal(
            ["Proxy:Listeners:1:CertificatePath: an https listener needs a certificate (a .pfx file), or a server certificate source (IProxyBuilder.UseServerCertificates)."],
            error.Errors);
    }

    public void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
        _renewed.Dispose();
    }

    private static Task<TestProxy> StartAsync(TestBackend backend, ServerCertificateSource source, string? certificatePath)
    {
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address);
        options.Listeners[0] = new ListenerOptions { Url = "https://127.0.0.1:0", CertificatePath = certificatePath, CertificatePassword = certificatePath is null ? null : "test" };
        return TestProxy.StartAsync(options, configure: p => p.UseServerCertificates(_ => source));
    }

    /// <summary>One TLS handshake naming <paramref name="serverName"/>; the thumbprint of the certificate the proxy presented.</summary>
    private static async Task<string?> HandshakeAsync(IPEndPoint endPoint, string serverName)
    {
        await using var tls = await ConnectAsync(endPoint, serverName);
        return tls.RemoteCertificate is { } presented ? presented.GetCertHashString() : null;
    }

    /// <summary>One handshake: the presented certificate's thumbprint and those of the other certificates the server sent.</summary>
    private static async Task<(string? Leaf, IReadOnlyList<string> Sent)> HandshakeWithChainAsync(IPEndPoint endPoint, string serverName)
    {
        var sent = new List<string>();
        await using var tls = await ConnectAsync(endPoint, serverName, (certificate, chain) =>
        {
            sent.AddRange(chain!.ChainPolicy.ExtraStore.Select(c => c.Thumbprint));
            return certificate is not null;
        });
        return (tls.RemoteCertificate?.GetCertHashString(), sent);
    }

    private static async Task<string> GetStatusLineAsync(IPEndPoint endPoint, string serverName)
    {
        await using var tls = await ConnectAsync(endPoint, serverName);
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {serverName}\r\nConnection: close\r\n\r\n"), Ct);
        using var reader = new StreamReader(tls, Encoding.ASCII);
        return await reader.ReadLineAsync(Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(20), Ct) ?? "";
    }

    private static async Task<SslStream> ConnectAsync(IPEndPoint endPoint, string serverName, Func<X509Certificate?, X509Chain?, bool>? validate = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endPoint, Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct);
            var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
            try
            {
                await tls.AuthenticateAsClientAsync(
                    new SslClientAuthenticationOptions
                    {
                        TargetHost = serverName,
                        AllowTlsResume = false, // a resumed session would not show the certificate the server would present now
                        ApplicationProtocols = [SslApplicationProtocol.Http11],
                        // Self-signed: the test checks which certificate came, by thumbprint, not its trust.
                        RemoteCertificateValidationCallback = (_, certificate, chain, _) => validate?.Invoke(certificate, chain) ?? certificate is not null,
                    },
                    Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);
                return tls;
            }
            catch
            {
                await tls.DisposeAsync();
                throw;
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A source as a Secret watcher would write it: an immutable set in a volatile field, replaced whole.</summary>
    private sealed class SwappableSource(ServerCertificateSet set) : ServerCertificateSource
    {
        private volatile ServerCertificateSet _set = set;

        public ServerCertificateSet Set
        {
            get => _set;
            set => _set = value;
        }

        public override X509Certificate2? GetCertificate(string? serverName) => _set.GetCertificate(serverName);
    }
}
