using System.Buffers.Binary;
using System.Net;
using System.Text;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Proxy.Tests.HealthChecks;

public sealed class TcpAndGrpcHealthCheckTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task TcpCheck_ClosedPort_IsUnhealthyWithConnectRefused_AndGetsNoRequest()
    {
        await using var live = await FlippableBackend.StartAsync("live", "127.0.0.12");
        var dead = Loopback.DeadEndpoint("127.0.0.13");
        var time = new FakeTimeProvider();
        var options = TestProxy.Options(LoadBalancingAlgorithm.Random, live.Address, dead);
        options.Clusters["web"].MaxAttempts = 1;
        options.Clusters["web"].OutlierDetection.Enabled = false;
        options.Clusters["web"].HealthCheck = new HealthCheckOptions
        {
            Protocol = HealthCheckProtocol.Tcp,
            Interval = Interval,
            Jitter = TimeSpan.Zero,
            UnhealthyThreshold = 1,
        };
        await using var proxy = await TestProxy.StartAsync(options, time);
        using var probes = new ProbeWaiter(proxy.Runtime.Probers);
        await probes.UntilAsync(2);

        await HealthRig.SendAsync(proxy, 20);

        Assert.Equal(20, live.Forwarded);
        Assert.Equal(0, live.Probes);
        var deadHealth = (await HealthRig.HealthAsync(proxy, "web", dead))!.Value;
        Assert.Equal("unhealthy", deadHealth.GetProperty("state").GetString());
        Assert.Equal("connect refused", deadHealth.GetProperty("lastResult").GetString());
        var liveHealth = (await HealthRig.HealthAsync(proxy, "web", live.Address))!.Value;
        Assert.Equal("healthy", liveHealth.GetProperty("state").GetString());
        Assert.Equal("connected", liveHealth.GetProperty("lastResult").GetString());

        var metrics = await proxy.Admin.GetStringAsync("metrics", TestContext.Current.CancellationToken);
        Assert.Contains("lb_proxy_health_check_probes_total{cluster=\"web\",result=\"success\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("lb_proxy_health_check_probes_total{cluster=\"web\",result=\"failure\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("lb_cluster_health_check_unhealthy_endpoints{cluster=\"web\"} 1\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoHealthCheck_BackendsHasNoHealthObject()
    {
        await using var backend = await FlippableBackend.StartAsync("a", "127.0.0.14");
        await using var proxy = await TestProxy.StartAsync(TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, backend.Address));

        Assert.Null(await HealthRig.HealthAsync(proxy, "web", backend.Address));
        Assert.Null(proxy.Cluster().HealthChecks);
        Assert.Equal(0, proxy.Runtime.Probers.Count);
    }

    [Fact]
    public async Task GrpcCheck_RealH2cServer_ServingPasses_NotServingFails_ServiceNameSent()
    {
        await using var server = await GrpcHealthServer.StartAsync("127.0.0.15");
        var time = new FakeTimeProvider();
        var logs = new CapturedLogs();
        var options = TestProxy.Options(LoadBalancingAlgorithm.RoundRobin, server.Address);
        options.Clusters["web"].HealthCheck = new HealthCheckOptions
        {
            Protocol = HealthCheckProtocol.Grpc,
            ServiceName = "shop.Cart",
            Interval = Interval,
            Jitter = TimeSpan.Zero,
            UnhealthyThreshold = 1,
            HealthyThreshold = 1,
        };
        await using var proxy = await TestProxy.StartAsync(options, time, p => p.Services.AddSingleton<ILoggerProvider>(logs));
        using var probes = new ProbeWaiter(proxy.Runtime.Probers);
        await probes.UntilAsync(1);

        var health = (await HealthRig.HealthAsync(proxy, "web", server.Address))!.Value;
        Assert.Equal("healthy", health.GetProperty("state").GetString());
        Assert.Equal("grpc SERVING", health.GetProperty("lastResult").GetString());
        Assert.Equal(["shop.Cart"], server.Services);

        server.Status = 2; // NOT_SERVING
        time.Advance(Interval);
        await probes.UntilAsync(2);
        health = (await HealthRig.HealthAsync(proxy, "web", server.Address))!.Value;
        Assert.Equal("unhealthy", health.GetProperty("state").GetString());
        Assert.Equal("grpc NOT_SERVING", health.GetProperty("lastResult").GetString());
        Assert.Equal(1, proxy.Cluster().Balancer.Status.UnhealthyEndpoints);

        server.Status = 1;
        server.GrpcStatus = "5"; // NOT_FOUND: the service is unknown, SERVING or not
        time.Advance(Interval);
        await probes.UntilAsync(3);
        Assert.Equal("grpc-status 5", (await HealthRig.HealthAsync(proxy, "web", server.Address))!.Value.GetProperty("lastResult").GetString());

        server.GrpcStatus = "0";
        time.Advance(Interval);
        await probes.UntilAsync(4);
        Assert.Equal("healthy", (await HealthRig.HealthAsync(proxy, "web", server.Address))!.Value.GetProperty("state").GetString());
        Assert.Equal(0, proxy.Cluster().Balancer.Status.UnhealthyEndpoints);
        Assert.All(server.Protocols, p => Assert.Equal("HTTP/2", p));

        // One line per change: turned unhealthy at Warning with the reason, healthy again at Information.
        var changes = logs.Lines.Where(l => l.Category == "LoadBalancing.Proxy.Clusters" && l.EventId is 7 or 8).ToList();
        Assert.Equal(
            [
                (LogLevel.Warning, $"Cluster web: endpoint {server.Address} failed its health check (grpc NOT_SERVING); it takes no traffic until the check passes again."),
                (LogLevel.Information, $"Cluster web: endpoint {server.Address} passed its health check (grpc SERVING) and takes traffic."),
            ],
            changes.Select(l => (l.Level, l.Message)));
    }

    /// <summary>
    /// grpc.health.v1.Health/Check served by Kestrel over h2c (HTTP/2 only, prior knowledge), framed by hand as a gRPC
    /// server frames it: a length-prefixed HealthCheckResponse, then grpc-status in the trailers.
    /// </summary>
    private sealed class GrpcHealthServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private volatile int _status = 1;
        private volatile string _grpcStatus = "0";

        private GrpcHealthServer(WebApplication app) => _app = app;

        public string Address { get; private set; } = "";

        public int Status
        {
            get => _status;
            set => _status = value;
        }

        public string GrpcStatus
        {
            get => _grpcStatus;
            set => _grpcStatus = value;
        }

        public System.Collections.Concurrent.ConcurrentQueue<string> Services { get; } = new();

        public System.Collections.Concurrent.ConcurrentQueue<string> Protocols { get; } = new();

        public static async Task<GrpcHealthServer> StartAsync(string ip)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Parse(ip), 0, listen => listen.Protocols = HttpProtocols.Http2));
            var app = builder.Build();
            var self = new GrpcHealthServer(app);
            app.MapPost("/grpc.health.v1.Health/Check", async context =>
            {
                self.Protocols.Enqueue(context.Request.Protocol);
                var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body);
                self.Services.Enqueue(ServiceName(body.ToArray()));
                context.Response.ContentType = "application/grpc";
                if (self.GrpcStatus == "0")
                {
                    // HealthCheckResponse { status (field 1, varint) }
                    byte[] frame = [0, 0, 0, 0, 2, 0x08, (byte)self.Status];
                    await context.Response.Body.WriteAsync(frame);
                }

                context.Response.AppendTrailer("grpc-status", self.GrpcStatus);
            });
            await app.StartAsync();
            self.Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Authority;
            return self;
        }

        /// <summary>HealthCheckRequest.service from a one-frame body (field 1, a short string).</summary>
        private static string ServiceName(byte[] frame)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(frame.AsSpan(1));
            if (frame[0] != 0 || length != frame.Length - 5)
            {
                return "(bad frame)";
            }

            return length == 0 ? "" : frame[5] == 0x0A && frame[6] < 0x80 ? Encoding.UTF8.GetString(frame, 7, frame[6]) : "(bad message)";
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
