using System.Net;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace ProxyHost.Tests;

/// <summary>The runnable host as the README starts it, with its ports moved to free ones.</summary>
public sealed class ProxyHostTests
{
    private static readonly string[] FreePorts = ["--Proxy:Listeners:0:Url=http://127.0.0.1:0", "--Proxy:Admin:Url=http://127.0.0.1:0"];

    [Fact]
    public async Task Demo_AnswersFromItsBuiltInBackends_BalancedWithPeakEwma()
    {
        var (app, backends) = await ProxyHostApp.BuildAsync(FreePorts);
        await using var _ = backends;
        await app.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var listeners = app.Services.GetRequiredService<ProxyListeners>();
            using var client = new HttpClient { BaseAddress = new Uri($"http://{listeners.ProxyEndPoint}/") };
            var answers = new List<string>();
            for (var i = 0; i < 30; i++)
            {
                answers.Add(await client.GetStringAsync("/hello", TestContext.Current.CancellationToken));
            }

            Assert.Equal(3, backends!.Addresses.Count);
            Assert.All(answers, a => Assert.Matches(@"^backend-[123] \(127\.0\.0\.1:\d+\) answered GET /hello\n$", a));
            using var admin = new HttpClient { BaseAddress = new Uri($"http://{listeners.AdminEndPoint}/") };
            Assert.Contains("\"algorithm\": \"PeakEwma\"", await admin.GetStringAsync("backends", TestContext.Current.CancellationToken), StringComparison.Ordinal);
        }
        finally
        {
            await app.StopAsync(TestContext.Current.CancellationToken);
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task BadConfiguration_FailsAtStartUp_NamingTheKey()
    {
        var error = await Assert.ThrowsAsync<ProxyConfigurationException>(() =>
            ProxyHostApp.BuildAsync([.. FreePorts, "--Proxy:Clusters:demo:Algorithm=Fastest"]));

        Assert.Contains("Proxy:Clusters:demo:Algorithm", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigFile_ReplacesTheDemo_AndAMissingFileIsNamed()
    {
        await using var backend = await TestBackend.StartAsync("from-file", "127.0.0.5");
        var file = Path.Combine(Path.GetTempPath(), $"proxyhost-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, $$"""
            {
              "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:0" } ],
                "Admin": { "Url": "http://127.0.0.1:0" },
                "Routes": [ { "Path": "/", "Cluster": "files" } ],
                "Clusters": { "files": { "Algorithm": "LeastRequest", "Endpoints": [ { "Address": "{{backend.Address}}" } ] } }
              }
            }
            """, TestContext.Current.CancellationToken);
        try
        {
            var (app, backends) = await ProxyHostApp.BuildAsync(["--config", file]);
            Assert.Null(backends);
            await app.StartAsync(TestContext.Current.CancellationToken);
            var listeners = app.Services.GetRequiredService<ProxyListeners>();
            using var client = new HttpClient { BaseAddress = new Uri($"http://{listeners.ProxyEndPoint}/") };
            Assert.Equal("from-file", await client.GetStringAsync("/", TestContext.Current.CancellationToken));
            await app.StopAsync(TestContext.Current.CancellationToken);
            await app.DisposeAsync();
        }
        finally
        {
            File.Delete(file);
        }

        var missing = await Assert.ThrowsAsync<ProxyConfigurationException>(() => ProxyHostApp.BuildAsync(["--config", file]));
        Assert.Contains("--config: file", missing.Message, StringComparison.Ordinal);
    }
}
