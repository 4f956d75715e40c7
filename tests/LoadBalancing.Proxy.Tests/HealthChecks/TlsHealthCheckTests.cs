using System.Collections.Concurrent;
using System.Text;
using LoadBalancing.Proxy.Tests.Support;
using LoadBalancing.Proxy.Tests.UpstreamTls;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Proxy.Tests.HealthChecks;

/// <summary>Probes of a cluster with upstream TLS go over its TLS: real Kestrel HTTPS backends, certificates made in the test.</summary>
public sealed class TlsHealthCheckTests
{
    private const string Name = "api.internal";
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task HttpCheck_OverTheClustersTls_WithItsClientCertificate_FollowsTheStatus()
    {
        using var pki = new TlsPki();
        var status = new StatusBox(200);
        var probes = new ConcurrentQueue<string>();
        await using var backend = await TlsBackend.StartAsync(pki.Server(Name), "127.0.0.51", requireClientCertificate: true, handler: context =>
        {
            probes.Enqueue(context.Request.Path + " " + context.Request.Headers.UserAgent);
            context.Response.StatusCode = status.Value;
            return Task.CompletedTask;
        });
        var client = pki.Client();
        var time = new FakeTimeProvider();
        var options = TestProxy.Options(LoadBalancingAlgorithm.Random, backend.Address);
        options.Clusters["web"].Tls = new UpstreamTlsOptions
        {
            ServerName = Name,
            CaFile = pki.WriteCa(),
            ClientCertificateFile = client.CertificateFile,
            ClientKeyFile = client.KeyFile,
        };
        options.Clusters["web"].HealthCheck = HealthRig.Http(unhealthy: 1, healthy: 1);
        await using var proxy = await TestProxy.StartAsync(options, time);
        using var waiter = new ProbeWaiter(proxy.Runtime.Probers);

        await waiter.UntilAsync(1);
        var health = (await HealthRig.HealthAsync(proxy, "web", backend.Address))!.Value;
        Assert.Equal("HTTP 200", health.GetProperty("lastResult").GetString());
        Assert.Equal("healthy", health.GetProperty("state").GetString());

        status.Value = 503;
        time.Advance(Interval);
        await waiter.UntilAsync(2);
        health = (await HealthRig.HealthAsync(proxy, "web", backend.Address))!.Value;
        Assert.Equal("HTTP 503", health.GetProperty("lastResult").GetString());
        Assert.Equal("unhealthy", health.GetProperty("state").GetString());

        Assert.Equal(["/healthz LoadBalancing-HealthCheck", "/healthz LoadBalancing-HealthCheck"], probes.ToArray());
        Assert.All(backend.Requests, r => Assert.Equal("CN=proxy-client", r.ClientCertificate));
    }

    [Fact]
    public async Task HttpCheck_CertificateForAnotherName_FailsWithTheTlsKind_AndNeverSendsTheRequest()
    {
        using var pki = new TlsPki();
        var probes = 0;
        await using var backend = await TlsBackend.StartAsync(pki.Server("wrong.example"), "127.0.0.52", handler: context =>
        {
            Interlocked.Increment(ref probes);
            return Task.CompletedTask;
        });
        var time = new FakeTimeProvider();
        var options = TestProxy.Options(LoadBalancingAlgorithm.Random, backend.Address);
        options.Clusters["web"].Tls = new UpstreamTlsOptions { ServerName = Name, CaFile = pki.WriteCa() };
        options.Clusters["web"].HealthCheck = HealthRig.Http();
        options.Clusters["web"].HealthCheck!.InitialState = HealthCheckInitialState.Unhealthy;
        await using var proxy = await TestProxy.StartAsync(options, time);
        using var waiter = new ProbeWaiter(proxy.Runtime.Probers);

        await waiter.UntilAsync(1);

        var health = (await HealthRig.HealthAsync(proxy, "web", backend.Address))!.Value;
        Assert.Equal("unhealthy", health.GetProperty("state").GetString());
        var result = health.GetProperty("lastResult").GetString()!;
        Assert.StartsWith("tls_name_mismatch: ", result, StringComparison.Ordinal);
        Assert.Contains("wrong.example", result, StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref probes));
    }

    [Fact]
    public async Task GrpcCheck_OverTls_SpeaksH2_AndReadsTheServingStatus()
    {
        using var pki = new TlsPki();
        var serving = new StatusBox(1);
        var protocols = new ConcurrentQueue<string>();
        await using var backend = await TlsBackend.StartAsync(pki.Server(Name), "127.0.0.53", http: HttpProtocols.Http2, handler: async context =>
        {
            protocols.Enqueue(context.Request.Protocol + " " + context.Request.Path);
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.ContentType = "application/grpc";
            byte[] frame = [0, 0, 0, 0, 2, 0x08, (byte)serving.Value]; // HealthCheckResponse { status }
            await context.Response.Body.WriteAsync(frame);
            context.Response.AppendTrailer("grpc-status", "0");
        });
        var time = new FakeTimeProvider();
        var options = TestProxy.Options(LoadBalancingAlgorithm.Random, backend.Address);
        options.Clusters["web"].Protocol = UpstreamProtocol.Http2;
        options.Clusters["web"].Tls = new UpstreamTlsOptions { ServerName = Name, CaFile = pki.WriteCa() };
        options.Clusters["web"].HealthCheck = new HealthCheckOptions
        {
            Protocol = HealthCheckProtocol.Grpc,
            Interval = Interval,
            Jitter = TimeSpan.Zero,
            UnhealthyThreshold = 1,
        };
        await using var proxy = await TestProxy.StartAsync(options, time);
        using var waiter = new ProbeWaiter(proxy.Runtime.Probers);

        await waiter.UntilAsync(1);
        Assert.Equal("grpc SERVING", (await HealthRig.HealthAsync(proxy, "web", backend.Address))!.Value.GetProperty("lastResult").GetString());

        serving.Value = 2;
        time.Advance(Interval);
        await waiter.UntilAsync(2);
        var health = (await HealthRig.HealthAsync(proxy, "web", backend.Address))!.Value;
        Assert.Equal("grpc NOT_SERVING", health.GetProperty("lastResult").GetString());
        Assert.Equal("unhealthy", health.GetProperty("state").GetString());
        Assert.Equal(["HTTP/2 /grpc.health.v1.Health/Check", "HTTP/2 /grpc.health.v1.Health/Check"], protocols.ToArray());
    }

    [Fact]
    public async Task UseTlsFalse_ProbesAPlainHealthPort_WhileRequestsUseTls()
    {
        using var pki = new TlsPki();
        await using var backend = await TlsBackend.StartAsync(pki.Server(Name), "127.0.0.54");
        await using var health = await FlippableBackend.StartAsync("health", "127.0.0.54");
        var time = new FakeTimeProvider();
        var options = TestProxy.Options(LoadBalancingAlgorithm.Random, backend.Address);
        options.Clusters["web"].Tls = new UpstreamTlsOptions { ServerName = Name, CaFile = pki.WriteCa() };
        options.Clusters["web"].HealthCheck = HealthRig.Http();
        options.Clusters["web"].HealthCheck!.UseTls = false;
        options.Clusters["web"].HealthCheck!.Port = int.Parse(health.Address.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        await using var proxy = await TestProxy.StartAsync(options, time);
        using var waiter = new ProbeWaiter(proxy.Runtime.Probers);

        await waiter.UntilAsync(1);

        Assert.Equal(1, health.Probes);
        Assert.Equal("HTTP 200", (await HealthRig.HealthAsync(proxy, "web", backend.Address))!.Value.GetProperty("lastResult").GetString());
        using var response = await proxy.Client.GetAsync("/", TestContext.Current.CancellationToken);
        Assert.Equal("hello over tls", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public void UseTlsTrue_WithoutTheClustersTls_IsRefusedByName()
    {
        var json = """
            { "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:8080" } ],
                "Routes": [ { "Path": "/", "Cluster": "web" } ],
                "Clusters": { "web": { "Endpoints": [ { "Address": "10.0.0.1:80" } ], "HealthCheck": { "Path": "/healthz", "UseTls": true } } } } }
            """;
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();

        Assert.False(ProxyConfiguration.TryLoad(configuration.GetSection("Proxy"), out _, out var errors));

        Assert.True(errors.Any(e => e.StartsWith("Proxy:Clusters:web:HealthCheck:UseTls is true but the cluster has no Tls section", StringComparison.Ordinal)), string.Join("\n", errors));
    }

    private sealed class StatusBox(int value)
    {
        private volatile int _value = value;

        public int Value
        {
            get => _value;
            set => _value = value;
        }
    }
}
