using LoadBalancing.Proxy;
using ProxyHost;

WebApplication app;
DemoBackends? backends;
try
{
    (app, backends) = await ProxyHostApp.BuildAsync(args);
}
catch (ProxyConfigurationException e)
{
    await Console.Error.WriteLineAsync(e.Message);
    return 2;
}

await using (backends)
{
    var listeners = app.Services.GetRequiredService<ProxyListeners>();
    app.Lifetime.ApplicationStarted.Register(() =>
    {
        Console.WriteLine($"Proxy listening on http://{listeners.ProxyEndPoint}; admin on http://{listeners.AdminEndPoint} (/healthz /readyz /metrics /backends)");
        if (backends is not null)
        {
            Console.WriteLine($"Demo backends: {string.Join(", ", backends.Addresses)}. Try: curl http://{listeners.ProxyEndPoint}/");
        }
    });
    try
    {
        await app.StartAsync();
    }
    catch (Exception e) when (listeners.DescribeBindFailure(e) is { } line)
    {
        await Console.Error.WriteLineAsync(line);
        await app.DisposeAsync();
        return 2;
    }

    await app.WaitForShutdownAsync();
    await app.DisposeAsync();
}

return 0;
