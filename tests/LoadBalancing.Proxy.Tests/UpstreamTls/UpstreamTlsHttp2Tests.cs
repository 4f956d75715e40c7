using System.Net;
using System.Text.Json;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace LoadBalancing.Proxy.Tests.UpstreamTls;

/// <summary>HTTP/2 over TLS to real Kestrel HTTPS backends: h2 by the proxy's own handshake, and ALPN under Auto.</summary>
public sealed class UpstreamTlsHttp2Tests
{
    private const string Name = "api.internal";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Http2OverTls_SpeaksH2_OnOneHandshake()
    {
        using var pki = new TlsPki();
        await using var backend = await TlsBackend.StartAsync(pki.Server(Name), "127.0.0.41", handler: context => context.Response.WriteAsync(context.Request.Protocol));
        await using var proxy = await TestProxy.StartAsync(Options(UpstreamProtocol.Http2, new UpstreamTlsOptions { ServerName = Name, CaFile = pki.WriteCa() }, backend.Address));
        using var client = proxy.NewClient();

        for (var i = 0; i < 5; i++)
        {
            using var response = await client.GetAsync("/", Ct);
            Assert.True(response.StatusCode == HttpStatusCode.OK, await proxy.Admin.GetStringAsync("/backends", Ct));
            Assert.Equal("HTTP/2", await response.Content.ReadAsStringAsync(Ct));
        }

        Assert.Equal(1, backend.Handshakes);
    }

    [Fact]
    public async Task Http2OverTls_WrongName_IsATlsConnectFailure_NamedInBackends()
    {
        using var pki = new TlsPki();
        await using var backend = await TlsBackend.StartAsync(pki.Server("wrong.example"), "127.0.0.42");
        await using var proxy = await TestProxy.StartAsync(Options(UpstreamProtocol.Http2, new UpstreamTlsOptions { ServerName = Name, CaFile = pki.WriteCa() }, backend.Address));
        using var client = proxy.NewClient();

        using var response = await client.GetAsync("/", Ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("upstream TLS handshake failed\n", await response.Content.ReadAsStringAsync(Ct));
        using var backends = JsonDocument.Parse(await proxy.Admin.GetStringAsync("/backends", Ct));
        var endpoint = backends.RootElement.GetProperty("clusters")[0].GetProperty("endpoints")[0];
        Assert.Equal("tls_name_mismatch", endpoint.GetProperty("lastError").GetProperty("kind").GetString());
        Assert.Contains("wrong.example", endpoint.GetProperty("lastError").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, endpoint.GetProperty("connectFailures").GetProperty("tls").GetInt32());
    }

    [Theory]
    [InlineData(HttpProtocols.Http1AndHttp2, "HTTP/2")]
    [InlineData(HttpProtocols.Http1, "HTTP/1.1")]
    public async Task Auto_OverTls_FollowsAlpn(HttpProtocols offered, string expected)
    {
        using var pki = new TlsPki();
        await using var backend = await TlsBackend.StartAsync(pki.Server(Name), "127.0.0.43", handler: context => context.Response.WriteAsync(context.Request.Protocol), http: offered);
        await using var proxy = await TestProxy.StartAsync(Options(UpstreamProtocol.Auto, new UpstreamTlsOptions { ServerName = Name, CaFile = pki.WriteCa() }, backend.Address));
        using var client = proxy.NewClient();

        using var response = await client.GetAsync("/", Ct);

        Assert.True(response.StatusCode == HttpStatusCode.OK, await proxy.Admin.GetStringAsync("/backends", Ct));
        Assert.Equal(expected, await response.Content.ReadAsStringAsync(Ct));
    }

    private static ProxyOptions Options(UpstreamProtocol protocol, UpstreamTlsOptions tls, params string[] endpoints)
    {
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, endpoints);
        var cluster = options.Clusters["web"];
        cluster.Protocol = protocol;
        cluster.Tls = tls;
        cluster.OutlierDetection.Enabled = false;
        cluster.MaxAttempts = 1;
        return options;
    }
}
