// Built by Packaging.Tests in a fresh folder against the packed LoadBalancing and LoadBalancing.Proxy packages,
// restored from a local folder: what a user gets from "dotnet add package".
using LoadBalancing;
using LoadBalancing.Proxy;

switch (args.FirstOrDefault())
{
    case "balancer":
        RunBalancer();
        return 0;
    case "proxy":
        await RunProxyAsync();
        return 0;
    default:
        Console.Error.WriteLine("usage: Consumer balancer|proxy");
        return 2;
}

static void RunBalancer()
{
    var source = new EndpointSource("web");
    source.Publish([new BackendEndpoint("10.0.0.7", 8080), new BackendEndpoint("10.0.0.8", 8080, weight: 2)]);
    using var balancer = new Balancer(source, new BalancerOptions { Algorithm = LoadBalancingAlgorithm.RoundRobin });

    // Smooth weighted round-robin: any three picks in a row are each endpoint as often as its weight.
    var picks = new List<string>();
    for (var i = 0; i < 3; i++)
    {
        var pick = balancer.Pick();
        picks.Add($"{pick.Status} {pick.Endpoint?.Address}:{pick.Endpoint?.Port}");
        pick.Complete(success: true, latency: TimeSpan.FromMilliseconds(1));
    }

    picks.Sort(StringComparer.Ordinal);
    Console.WriteLine("picks: " + string.Join(", ", picks));
}

static async Task RunProxyAsync()
{
    var backendBuilder = WebApplication.CreateSlimBuilder();
    backendBuilder.Logging.ClearProviders();
    backendBuilder.WebHost.UseUrls("http://127.0.0.1:0");
    await using var backend = backendBuilder.Build();
    backend.MapGet("/{**path}", (HttpContext context) => $"backend answered {context.Request.Path}");
    await backend.StartAsync();
    var backendPort = new Uri(backend.Urls.Single()).Port;

    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.ClearProviders();
    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["Proxy:Listeners:0:Url"] = "http://127.0.0.1:0",
        ["Proxy:Admin:Url"] = "http://127.0.0.1:0",
        ["Proxy:Routes:0:Path"] = "/",
        ["Proxy:Routes:0:Cluster"] = "web",
        ["Proxy:Clusters:web:Algorithm"] = "PeakEwma",
        ["Proxy:Clusters:web:Endpoints:0:Address"] = $"127.0.0.1:{backendPort}",
    });
    var options = ProxyConfiguration.Load(builder.Configuration.GetSection("Proxy"));
    builder.Services.AddLoadBalancingProxy(options);
    builder.WebHost.UseLoadBalancingProxyListeners(options);
    await using var app = builder.Build();
    app.UseLoadBalancingProxy();
    await app.StartAsync();

    var listeners = app.Services.GetRequiredService<ProxyListeners>();
    using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
    using var response = await client.GetAsync(new Uri($"http://{listeners.ProxyEndPoint}/hello"));
    Console.WriteLine($"proxied: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    var ready = await client.GetStringAsync(new Uri($"http://{listeners.AdminEndPoint}/readyz"));
    Console.WriteLine($"readyz: {ready.Split('\n')[0].Trim()}");

    await app.StopAsync();
    await backend.StopAsync();
}
