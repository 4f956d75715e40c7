using LoadBalancing.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancing.Tests.DependencyInjection;

public sealed class AddLoadBalancingTests
{
    [Fact]
    public void AddCluster_Resolved_GivesABalancerOverItsSource()
    {
        var services = new ServiceCollection();
        services.AddLoadBalancing().AddCluster("web", o => o.Algorithm = LoadBalancingAlgorithm.Maglev);
        using var provider = services.BuildServiceProvider();
        var registry = provider.GetRequiredService<ClusterRegistry>();

        registry.GetSource("web").Publish(TestEndpoints.Make(3));

        Assert.Equal(["web"], registry.Names);
        Assert.Equal(LoadBalancingAlgorithm.Maglev, registry.GetBalancer("web").Options.Algorithm);
        Assert.Equal(PickStatus.Picked, registry.GetBalancer("web").Pick(PickContext.ForHash(1)).Status);
        Assert.Same(registry.GetBalancer("web"), registry.GetBalancer("web"));
    }

    [Fact]
    public void AddCluster_InvalidOptions_FailStartupValidationNamingClusterAndKey()
    {
        var services = new ServiceCollection();
        services.AddLoadBalancing().AddCluster("payments", o => o.Maglev.TableSize = 1000);
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains("Cluster 'payments': Maglev.TableSize must be a prime", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddLoadBalancing_KeepsARegisteredTimeProvider()
    {
        var time = new FakeTimeProvider();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddLoadBalancing().AddCluster("web");
        using var provider = services.BuildServiceProvider();

        var source = provider.GetRequiredService<ClusterRegistry>().GetSource("web");
        source.Publish(TestEndpoints.Make(1));
        time.Advance(TimeSpan.FromSeconds(5));

        Assert.Equal(TimeSpan.FromSeconds(5), source.Staleness());
    }

    [Fact]
    public void GetBalancer_UnknownCluster_ThrowsNamingIt()
    {
        var services = new ServiceCollection();
        services.AddLoadBalancing().AddCluster("web");
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<KeyNotFoundException>(() => provider.GetRequiredService<ClusterRegistry>().GetBalancer("api"));

        Assert.Contains("'api'", error.Message, StringComparison.Ordinal);
    }
}
