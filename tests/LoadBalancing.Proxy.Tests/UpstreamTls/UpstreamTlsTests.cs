using System.Net;
using System.Security.Authentication;
using System.Text.Json;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Proxy.Tests.UpstreamTls;

/// <summary>TLS to upstreams through the real proxy, against real Kestrel HTTPS backends with certificates made in the test.</summary>
public sealed class UpstreamTlsTests
{
    private const string Name = "api.internal";

    private static ProxyOptions Options(UpstreamTlsOptions tls, params string[] endpoints)
    {
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, endpoints);
        var cluster = options.Clusters["web"];
        cluster.Tls = tls;
        cluster.OutlierDetection.Enabled = false;
        cluster.MaxAttempts = 1;
        return options;
    }

    /// <summary>The endpoint's entry in <c>/backends</c>.</summary>
    private static async Task<JsonElement> Endpoint(TestProxy proxy, string address, CancellationToken ct)
    {
        using var json = JsonDocument.Parse(await proxy.Admin.GetStringAsync("backends?cluster=web", ct));
        return json.RootElement.GetProperty("clusters")[0].GetProperty("endpoints").EnumerateArray()
            .Single(e => $"{e.GetProperty("address").GetString()}:{e.GetProperty("port").GetInt32()}" == address).Clone();
    }

    private static async Task AssertRefused(TestProxy proxy, TlsBackend backend, string kind, string message, CancellationToken ct)
    {
        using var response = await proxy.Client.GetAsync("/", ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("upstream TLS handshake failed\n", await response.Content.ReadAsStringAsync(ct));
        Assert.Empty(backend.Requests);

        var endpoint = await Endpoint(proxy, backend.Address, ct);
        var error = endpoint.GetProperty("lastError");
        Assert.Equal(kind, error.GetProperty("kind").GetString());
        Assert.StartsWith(message, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, endpoint.GetProperty("connectFailures").GetProperty("tls").GetInt32());
    }

    [Fact(Timeout = 30_000)]
    public async Task ValidCertificate_FromTheCaFile_Answers200_AndKeepAliveReusesOneHandshake()
    {
        using var pki = new TlsPki();
        await using var backend = await TlsBackend.StartAsync(pki.Server(Name), "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(Options(new UpstreamTlsOptions { ServerName = Name, CaFile = pki.WriteCa() }, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        Assert.Equal("hello over tls", await proxy.Client.GetStringAsync("/", ct));
        Assert.Equal("hello over tls", await proxy.Client.GetStringAsync("/", ct));

        Assert.Equal(1, backend.Handshakes);
        Assert.Single(backend.Requests.Select(r => r.ConnectionId).Distinct());
        Assert.Null(backend.Requests.First().ClientCertificate);
    }

    [Fact(Timeout = 30_000)]
    public async Task WrongName_IsRefused_503_WithTheNamesInLastError_AndCountedAsATlsConnectFailure()
    {
        using var pki = new TlsPki();
        await using var backend = await TlsBackend.StartAsync(pki.Server("wrong.example"), "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(Options(new UpstreamTlsOptions { ServerName = Name, CaFile = pki.WriteCa() }, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        await AssertRefused(proxy, backend, "tls_name_mismatch", "certificate for 'wrong.example' does not match 'api.internal'", ct);
        var metrics = await proxy.Admin.GetStringAsync("metrics", ct);
        Assert.Contains($"lb_proxy_endpoint_errors_total{{cluster=\"web\",endpoint=\"{backend.Address}\",kind=\"connect_tls\"}} 1\n", metrics, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task ExpiredCertificate_IsRefused_SayingWhenItExpired()
    {
        using var pki = new TlsPki();
        var expiredAt = DateTimeOffset.UtcNow.AddDays(-1);
        await using var backend = await TlsBackend.StartAsync(pki.Server(Name, DateTimeOffset.UtcNow.AddDays(-10), expiredAt), "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(Options(new UpstreamTlsOptions { ServerName = Name, CaFile = pki.WriteCa() }, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        await AssertRefused(proxy, backend, "tls_expired", $"certificate 'CN={Name}' expired at {expiredAt.UtcDateTime:yyyy-MM-dd'T'HH:mm}", ct);
    }

    [Fact(Timeout = 30_000)]
    public async Task CertificateFromAnotherCa_IsRefused_AsAnUntrustedRoot()
    {
        using var pki = new TlsPki();
        using var other = new TlsPki("Other CA");
        await using var backend = await TlsBackend.StartAsync(other.Server(Name), "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(Options(new UpstreamTlsOptions { ServerName = Name, CaFile = pki.WriteCa() }, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        await AssertRefused(proxy, backend, "tls_untrusted", $"untrusted root: certificate 'CN={Name}' issued by 'CN=Other CA' does not chain to a root in Tls:CaFile", ct);
    }

    [Fact(Timeout = 30_000)]
    public async Task WithoutCaFile_ThePrivateCa_IsNotTrusted_BecauseTheSystemStoreIsUsed()
    {
        using var pki = new TlsPki();
        await using var backend = await TlsBackend.StartAsync(pki.Server(Name), "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(Options(new UpstreamTlsOptions { ServerName = Name }, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        await AssertRefused(proxy, backend, "tls_untrusted", "untrusted root:", ct);
        Assert.EndsWith("a root the system trusts", (await Endpoint(proxy, backend.Address, ct)).GetProperty("lastError").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task IpEndpoint_WithoutServerName_FailsTheNameCheck_SayingToSetServerName()
    {
        using var pki = new TlsPki();
        await using var backend = await TlsBackend.StartAsync(pki.Server(Name), "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(Options(new UpstreamTlsOptions { CaFile = pki.WriteCa() }, backend.Address));
        var ct = TestContext.Current.CancellationToken;

        await AssertRefused(proxy, backend, "tls_name_mismatch", $"certificate for '{Name}' does not match '127.0.0.2'; the endpoint is an IP address and Tls:ServerName is not set", ct);
    }

    [Fact(Timeout = 30_000)]
    public async Task IpEndpoint_WithoutServerName_IsAccepted_WhenTheCertificateCarriesItsIp()
    {
        using var pki = new TlsPki();
        await using var backend = await TlsBackend.StartAsync(pki.Server(Name, ip: "127.0.0.2"), "127.0.0.2");
        await using var proxy = await TestProxy.StartAsync(Options(new UpstreamTlsOptions { CaFile = pki.WriteCa() }, backend.Address));

        Assert.Equal("hello over tls", await proxy.Client.GetStringAsync("/", TestContext.Current.CancellationToken));
    }

    [Fact(Timeout = 30_000)]
    public async Task DnsEndpoint_WithoutServerName_IsCheckedAgainstItsHostName()
    {
        using var pki = new TlsPki();
        await using var backend = await TlsBackend.StartAsync(pki.Server("localhost"), "127.0.0.1");
        var port = backend.Address[(backend.Address.LastIndexOf(':') + 1)..];
        await using var proxy = await TestProxy.StartAsync(Options(new UpstreamTlsOptions { CaFile = pki.WriteCa() }, $"localhost:{port}"));

        Assert.Equal("hello over tls", await proxy.Client.GetStringAsync("/", TestContext.Current.CancellationToken));
    }

    [Fact(Timeout = 30_000)]
    public async Task FailedHandshake_IsRetriedOnAnotherEndpoint_LikeAConnectFailure()
    {
        using var pki = new TlsPki();
        await using var wrong = await TlsBackend.StartAsync(pki.Server("wrong.example"), "127.0.0.2");
        await using var good = await TlsBackend.StartAsync(pki.Server(Name), "127.0.0.3");
        var options = Options(new UpstreamTlsOptions { ServerName = Name, CaFile = pki.WriteCa() }, wrong.Address, good.Address);
        options.Clusters["web"].MaxAttempts = 2;
        await using var proxy = await TestProxy.StartAsync(options);
        var ct = TestContext.Current.CancellationToken;

        for (var i = 0; i < 6; i++)
        {
            Assert.Equal("hello over tls", await proxy.Client.GetStringAsync("/", ct));
        }

        Assert.Empty(wrong.Requests);
        Assert.Equal(6, good.Requests.Count);
    }

    [Fact(Timeout = 30_000)]
    public async Task PlaintextBackend_IsNeverSpokenToInPlaintext()
    {
        await using var plain = await TestBackend.StartAsync("plain", "127.0.0.2");
        using var pki = new TlsPki();
        await using var proxy = await TestProxy.StartAsync(Options(new UpstreamTlsOptions { ServerName = Name, CaFile = pki.WriteCa() }, plain.Address));
        var ct = TestContext.Current.CancellationToken;

        using var response = await proxy.Client.GetAsync("/", ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Empty(plain.Requests);
        var error = (await Endpoint(proxy, plain.Address, ct)).GetProperty("lastError");
        Assert.Equal("tls_handshake", error.GetProperty("kind").GetString());
        Assert.StartsWith("TLS handshake failed:", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task ServerThatNeverAnswersTheHandshake_TimesOutWithinConnectTimeout_504()
    {
        // Accepts TCP connections and says nothing: the handshake waits for a ServerHello that never comes.
        using var silent = new System.Net.Sockets.TcpListener(IPAddress.Parse("127.0.0.2"), 0);
        silent.Start();
        var address = silent.LocalEndpoint.ToString()!;
        using var pki = new TlsPki();
        var options = Options(new UpstreamTlsOptions { ServerName = Name, CaFile = pki.WriteCa() }, address);
        options.Clusters["web"].ConnectTimeout = TimeSpan.FromMilliseconds(300);
        await using var proxy = await TestProxy.StartAsync(options);
        var ct = TestContext.Current.CancellationToken;

        using var response = await proxy.Client.GetAsync("/", ct);

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("upstream TLS handshake timed out\n", await response.Content.ReadAsStringAsync(ct));
        var endpoint = await Endpoint(proxy, address, ct);
        Assert.Equal("tls_handshake", endpoint.GetProperty("lastError").GetProperty("kind").GetString());
        Assert.Equal("the TLS handshake did not finish within the connect timeout", endpoint.GetProperty("lastError").GetProperty("message").GetString());
        Assert.Equal(1, endpoint.GetProperty("connectFailures").GetProperty("tls").GetInt32());
    }

    [Fact(Timeout = 30_000)]
    public async Task ClientCertificate_RequiredByTheBackend_FailsWithoutOne_AndIsPresentedWhenConfigured()
    {
        using var pki = new TlsPki();
        await using var backend = await TlsBackend.StartAsync(pki.Server(Name), "127.0.0.2", requireClientCertificate: true);
        var ca = pki.WriteCa();
        var ct = TestContext.Current.CancellationToken;

        await using (var without = await TestProxy.StartAsync(Options(new UpstreamTlsOptions { ServerName = Name, CaFile = ca }, backend.Address)))
        {
            using var response = await without.Client.GetAsync("/", ct);
            Assert.NotEqual(HttpStatusCode.OK, response.StatusCode);
            Assert.Empty(backend.Requests);
            var error = (await Endpoint(without, backend.Address, ct)).GetProperty("lastError");
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            Assert.Equal("tls_rejected", error.GetProperty("kind").GetString());
            Assert.StartsWith("the upstream closed the TLS connection right after the handshake", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        var (client, crt, key) = pki.Client("CN=proxy-client");
        await using var with = await TestProxy.StartAsync(Options(new UpstreamTlsOptions { ServerName = Name, CaFile = ca, ClientCertificateFile = crt, ClientKeyFile = key }, backend.Address));
        Assert.Equal("hello over tls", await with.Client.GetStringAsync("/", ct));
        Assert.Equal("CN=proxy-client", Assert.Single(backend.Requests).ClientCertificate);
        using var json = JsonDocument.Parse(await with.Admin.GetStringAsync("backends?cluster=web", ct));
        Assert.Equal("CN=proxy-client", json.RootElement.GetProperty("clusters")[0].GetProperty("tls").GetProperty("clientCertificate").GetProperty("subject").GetString());
        Assert.Equal("CN=proxy-client", client.Subject);
    }

    [Fact(Timeout = 30_000)]
    public async Task SkipValidation_AcceptsAnUntrustedCertificate_AndSaysSoInTheLogBackendsAndConfig()
    {
        using var other = new TlsPki("Other CA");
        await using var backend = await TlsBackend.StartAsync(other.Server("wrong.example"), "127.0.0.2");
        var logs = new CapturedLogs();
        await using var proxy = await TestProxy.StartAsync(
            Options(new UpstreamTlsOptions { ServerName = Name, SkipValidation = true }, backend.Address),
            configure: p => p.Services.AddSingleton<ILoggerProvider>(logs));
        var ct = TestContext.Current.CancellationToken;

        Assert.Equal("hello over tls", await proxy.Client.GetStringAsync("/", ct));

        var line = Assert.Single(logs.Lines, l => l.Category == "LoadBalancing.Proxy.Clusters" && l.EventId == 20);
        Assert.Equal(LogLevel.Warning, line.Level);
        Assert.StartsWith("Cluster web: Tls:SkipValidation is on", line.Message, StringComparison.Ordinal);
        using var backends = JsonDocument.Parse(await proxy.Admin.GetStringAsync("backends?cluster=web", ct));
        Assert.True(backends.RootElement.GetProperty("clusters")[0].GetProperty("tls").GetProperty("skipValidation").GetBoolean());
        using var config = JsonDocument.Parse(await proxy.Admin.GetStringAsync("config", ct));
        Assert.Contains("\"SkipValidation\":true", config.RootElement.GetRawText().Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);

        // Every reload that is not rejected says it again.
        Assert.Equal(ReloadOutcome.Unchanged, proxy.Runtime.Reload(proxy.Runtime.Options, [], "test").Outcome);
        Assert.Equal(2, logs.Lines.Count(l => l.Category == "LoadBalancing.Proxy.Clusters" && l.EventId == 20));
    }

    [Fact(Timeout = 30_000)]
    public async Task CaFileReplacedOnDisk_TheNextNewConnectionTrustsTheNewCa_AndABrokenFileKeepsTheLastGood()
    {
        using var oldCa = new TlsPki("Old CA");
        using var newCa = new TlsPki("New CA");
        await using var backend = await TlsBackend.StartAsync(newCa.Server(Name), "127.0.0.2");
        var caFile = oldCa.WriteCa();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var logs = new CapturedLogs();
        var options = Options(new UpstreamTlsOptions { ServerName = Name, CaFile = caFile }, backend.Address);
        options.Clusters["web"].MaxIdleConnectionsPerEndpoint = 0; // every request opens a new connection
        await using var proxy = await TestProxy.StartAsync(options, time, p => p.Services.AddSingleton<ILoggerProvider>(logs));
        var ct = TestContext.Current.CancellationToken;

        using (var refused = await proxy.Client.GetAsync("/", ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        }

        // The Secret is updated: the file now holds the new CA. The next check reads it.
        File.WriteAllText(caFile, newCa.Ca.ExportCertificatePem() + "\n");
        time.Advance(LoadBalancing.Proxy.Upstream.Tls.UpstreamTlsSettings.FileCheckInterval);
        Assert.Equal("hello over tls", await proxy.Client.GetStringAsync("/", ct));
        Assert.Single(logs.Lines, l => l.EventId == 21);

        // A broken write: a warning, once, and new connections keep the last good CA.
        File.WriteAllText(caFile, "not a certificate");
        time.Advance(LoadBalancing.Proxy.Upstream.Tls.UpstreamTlsSettings.FileCheckInterval);
        time.Advance(LoadBalancing.Proxy.Upstream.Tls.UpstreamTlsSettings.FileCheckInterval);
        Assert.Equal("hello over tls", await proxy.Client.GetStringAsync("/", ct));
        var warning = Assert.Single(logs.Lines, l => l.EventId == 22);
        Assert.Contains("holds no PEM certificate", warning.Message, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(await proxy.Admin.GetStringAsync("backends?cluster=web", ct));
        Assert.Contains("holds no PEM certificate", json.RootElement.GetProperty("clusters")[0].GetProperty("tls").GetProperty("filesProblem").GetString(), StringComparison.Ordinal);
        Assert.Equal(3, backend.Handshakes); // the refused one, then one per request
    }

    [Fact(Timeout = 30_000)]
    public async Task MinimumProtocolTls13_AgainstATls12OnlyBackend_FailsTheHandshake()
    {
        using var pki = new TlsPki();
        await using var backend = await TlsBackend.StartAsync(pki.Server(Name), "127.0.0.2", protocols: SslProtocols.Tls12);
        var ca = pki.WriteCa();
        var ct = TestContext.Current.CancellationToken;

        await using (var tls12 = await TestProxy.StartAsync(Options(new UpstreamTlsOptions { ServerName = Name, CaFile = ca }, backend.Address)))
        {
            Assert.Equal("hello over tls", await tls12.Client.GetStringAsync("/", ct));
        }

        await using var proxy = await TestProxy.StartAsync(Options(new UpstreamTlsOptions { ServerName = Name, CaFile = ca, MinimumProtocol = UpstreamTlsProtocol.Tls13 }, backend.Address));
        using var response = await proxy.Client.GetAsync("/", ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var error = (await Endpoint(proxy, backend.Address, ct)).GetProperty("lastError");
        Assert.Equal("tls_handshake", error.GetProperty("kind").GetString());
        Assert.Single(backend.Requests);
    }
}
