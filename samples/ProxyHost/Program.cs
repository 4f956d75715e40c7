using LoadBalancing.Proxy;
using ProxyHost;

SocketDefaults.Apply();

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
    var options = app.Services.GetRequiredService<ProxyOptions>();
    var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("ProxyHost");
    app.Lifetime.ApplicationStarted.Register(() =>
    {
        // One stable line first, whatever the log configuration: scripts and tests find the ports in it.
        Console.WriteLine($"Proxy listening on http://{listeners.ProxyEndPoint}; admin on http://{listeners.AdminEndPoint} (/ for a browser, /healthz /readyz /metrics /backends /config)");
        StartupSummary.Log(logger, options, listeners, ProxyHostApp.FindConfigFile(args), backends);
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
    catch (ProxyConfigurationException e)
    {
        // Checked as the listeners are set up: an https listener without a certificate (or a certificate source).
        await Console.Error.WriteLineAsync(e.Message);
        await app.DisposeAsync();
        return 2;
    }

    await app.WaitForShutdownAsync();
    await app.DisposeAsync();
}

return 0;
