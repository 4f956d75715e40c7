// The peer for bench/load: a minimal YARP 2.3.0 host, round-robin over the given upstreams, as its docs
// configure one. Usage: YarpHost --port 8081 --upstreams 127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003
using Yarp.ReverseProxy.Configuration;

var port = args.SkipWhile(a => a != "--port").Skip(1).First();
var upstreams = args.SkipWhile(a => a != "--upstreams").Skip(1).First().Split(',');

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
builder.Services.AddReverseProxy().LoadFromMemory(
    [new RouteConfig { RouteId = "all", ClusterId = "upstreams", Match = new RouteMatch { Path = "{**catch-all}" } }],
    [new ClusterConfig
    {
        ClusterId = "upstreams",
        LoadBalancingPolicy = "RoundRobin",
        Destinations = upstreams.Select((u, i) => (i, u)).ToDictionary(p => $"d{p.i}", p => new DestinationConfig { Address = $"http://{p.u}/" }),
    }]);
var app = builder.Build();
app.MapReverseProxy();
app.Run();
