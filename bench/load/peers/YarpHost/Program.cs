// The peer for bench/load: a minimal YARP 2.3.0 host, round-robin over the given upstreams, as its docs
// configure one. Usage: YarpHost --port 8081 --upstreams 127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003 [--grpc]
// With --grpc it is configured as YARP's gRPC docs say: the listener speaks HTTP/2 only (h2c for cleartext gRPC
// clients) and the cluster sends HTTP/2 exactly (prior knowledge to cleartext upstreams).
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

var port = int.Parse(args.SkipWhile(a => a != "--port").Skip(1).First(), System.Globalization.CultureInfo.InvariantCulture);
var upstreams = args.SkipWhile(a => a != "--upstreams").Skip(1).First().Split(',');
var grpc = args.Contains("--grpc");

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k =>
{
    k.AddServerHeader = false;
    k.Listen(IPAddress.Loopback, port, listen => listen.Protocols = grpc ? HttpProtocols.Http2 : HttpProtocols.Http1AndHttp2);
});
builder.Services.AddReverseProxy().LoadFromMemory(
    [new RouteConfig { RouteId = "all", ClusterId = "upstreams", Match = new RouteMatch { Path = "{**catch-all}" } }],
    [new ClusterConfig
    {
        ClusterId = "upstreams",
        LoadBalancingPolicy = "RoundRobin",
        Destinations = upstreams.Select((u, i) => (i, u)).ToDictionary(p => $"d{p.i}", p => new DestinationConfig { Address = $"http://{p.u}/" }),
        HttpRequest = grpc ? new ForwarderRequestConfig { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact } : null,
    }]);
var app = builder.Build();
app.MapReverseProxy();
app.Run();
