using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace LoadBalancing.Kubernetes.Tests.Configuration;

public sealed class OptionsTests
{
    private static IConfiguration Config(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(
            new Dictionary<string, string?>
            {
                ["Kubernetes:ApiServer"] = "http://127.0.0.1:8001",
                ["Kubernetes:Services:0:Namespace"] = "shop",
                ["Kubernetes:Services:0:Name"] = "web",
                ["Kubernetes:Services:0:Port"] = "http",
            }.Concat(values.Select(v => KeyValuePair.Create(v.Key, v.Value))).GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.Last().Value)).Build();

    private static string Error(params (string Key, string? Value)[] values) =>
        Assert.Throws<ArgumentException>(() => new ServiceCollection().AddKubernetesDiscovery(Config(values).GetSection("Kubernetes"))).Message;

    [Theory]
    [InlineData("Kubernetes:ApiServer", "ftp://x", "Kubernetes:ApiServer: 'ftp://x' is not an http:// or https:// URL")]
    [InlineData("Kubernetes:Services:0:Name", "Web_Front", "Kubernetes:Services:0:Name: 'Web_Front' is not a Service name")]
    [InlineData("Kubernetes:Services:0:Namespace", "", "Kubernetes:Services:0:Namespace")]
    [InlineData("Kubernetes:Services:0:Port", "HTTP!", "Kubernetes:Services:0:Port: 'HTTP!' is neither a port name nor a port number")]
    [InlineData("Kubernetes:WatchIdleTimeout", "00:00:00", "Kubernetes:WatchIdleTimeout must be positive")]
    [InlineData("Kubernetes:StaleAfter", "00:00:40", "Kubernetes:StaleAfter (00:00:40) must be longer than ConfirmInterval + ListTimeout + ConfirmGrace (00:00:43)")]
    [InlineData("Kubernetes:WedgedAfter", "00:01:00", "Kubernetes:WedgedAfter (00:01:00) must be longer than the loops' longest healthy wait (00:01:30")]
    [InlineData("Kubernetes:ConfirmInterval", "00:00:00", "Kubernetes:ConfirmInterval must be positive")]
    [InlineData("Kubernetes:WatchTimeoutMax", "00:01:00", "Kubernetes:WatchTimeoutMax (00:01:00) must not be less than WatchTimeoutMin")]
    [InlineData("Kubernetes:KubeConfigPath", "/nope/config", "Kubernetes:KubeConfigPath")]
    [InlineData("Kubernetes:WatchIdleTimeout", "soon", "Kubernetes:WatchIdleTimeout")]
    [InlineData("Kubernetes:Servics:0:Name", "web", "Servics")]
    public void BadOptions_NameTheKey(string key, string? value, string expected)
    {
        Assert.Contains(expected, Error((key, value)), StringComparison.Ordinal);
    }

    [Fact]
    public void NoServices_IsAnError()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Kubernetes:ApiServer"] = "http://127.0.0.1:8001" }).Build();

        var message = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddKubernetesDiscovery(configuration.GetSection("Kubernetes"))).Message;

        Assert.Contains("Kubernetes:Services: name at least one Service", message, StringComparison.Ordinal);
    }

    [Fact]
    public void NoApiServer_OutsideACluster_SaysSo()
    {
        var options = new KubernetesDiscoveryOptions();
        options.Services.Add(new ServiceReference { Name = "web" });

        var message = Assert.Throws<ArgumentException>(() => new KubernetesDiscovery(options)).Message;

        Assert.Contains("not running in a cluster", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Registration_AddsTheHostedServiceAndTheHealthCheck()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddKubernetesDiscovery(Config().GetSection("Kubernetes"));
        await using var provider = services.BuildServiceProvider();

        var discovery = provider.GetRequiredService<KubernetesDiscovery>();
        Assert.Contains(discovery, provider.GetServices<IHostedService>());
        Assert.Contains(provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<HealthCheckServiceOptions>>().Value.Registrations, r => r.Name == "kubernetes-discovery");
        Assert.Equal("shop/web:http", discovery.GetSource("shop", "web", "http").Name);
    }

    [Fact]
    public void UnknownKeys_AreNamedByTheirFullPath_WithTheClosestKnownName()
    {
        var message = Error(("Kubernetes:Servics:0:Name", "web"), ("Kubernetes:Services:0:Nme", "api"));

        Assert.Contains("Kubernetes:Servics: unknown key; did you mean 'Services'?", message, StringComparison.Ordinal);
        Assert.Contains("Kubernetes:Services:0:Nme: unknown key (set to 'api'); did you mean 'Name'?", message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryLoad_ReportsBindingAndValueProblemsTogether_SkippingChecksOfKeysThatDidNotBind()
    {
        var configuration = Config(("Kubernetes:WatchIdleTimeout", "90s"), ("Kubernetes:StaleAfter", "00:01:00"), ("Kubernetes:WatchTimeoutMax", "00:01:00"), ("Kubernetes:Namespaces:0", "Shop"));

        var valid = KubernetesDiscoveryOptionsValidation.TryLoad(configuration.GetSection("Kubernetes"), complete: null, out _, out var errors);

        // StaleAfter is not compared with the default that WatchIdleTimeout kept when it did not bind.
        Assert.False(valid);
        Assert.Equal(
            [
                "Kubernetes:WatchIdleTimeout: '90s' is not a duration as [d.]hh:mm:ss[.fff] (00:00:02 is 2 seconds); did you mean '00:01:30'?",
                "Kubernetes:Namespaces:0: 'Shop' is not a namespace name.",
                "Kubernetes:WatchTimeoutMax (00:01:00) must not be less than WatchTimeoutMin (00:05:00).",
            ],
            errors);
    }

    [Fact]
    public void TryLoad_LetsTheCallerAddServicesBeforeValidating()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Kubernetes:ApiServer"] = "http://127.0.0.1:8001" }).Build();

        var valid = KubernetesDiscoveryOptionsValidation.TryLoad(configuration.GetSection("Kubernetes"), o => o.Services.Add(new ServiceReference { Name = "web" }), out var options, out var errors);

        Assert.True(valid, string.Join("\n", errors));
        Assert.Equal("default/web", Assert.Single(options.Services).ToString());
    }

    [Fact]
    public void TheShapes_ListEveryBindableProperty_OfTheOptionsClasses()
    {
        foreach (var (type, names) in new (Type, IReadOnlyList<string>)[]
        {
            (typeof(KubernetesDiscoveryOptions), KubernetesConfigurationShape.Discovery.Names),
            (typeof(ServiceReference), KubernetesConfigurationShape.Service.Names),
        })
        {
            var properties = type.GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
                .Where(p => p.CanWrite || p.PropertyType.IsGenericType)
                .Select(p => p.Name)
                .Order(StringComparer.Ordinal);
            Assert.Equal(properties, names.Order(StringComparer.Ordinal));
        }
    }
}
