using Grpc.Net.Client.Configuration;
using LoadBalancing.Grpc.Internal;

namespace LoadBalancing.Grpc.Tests.Balancing;

/// <summary>The typed configs write the policy settings grpc-dotnet hands to the factory; settings read as JSON would give them.</summary>
public sealed class PolicyConfigTests
{
    [Fact]
    public void TypedConfigs_WriteTheirSettings_UnderThePolicyName()
    {
        var maglev = new MaglevConfig { HashKey = "x-user" };
        var least = new LeastRequestConfig { ChoiceCount = 3 };

        Assert.Equal((LoadBalancingPolicies.Maglev, "x-user"), (maglev.PolicyName, ((IDictionary<string, object>)maglev.Inner["maglev"])["hashKey"]));
        Assert.Equal((LoadBalancingPolicies.LeastRequest, 3), (least.PolicyName, ((IDictionary<string, object>)least.Inner["least_request"])["choiceCount"]));
        Assert.Equal(["peak_ewma", "ring_hash"], new LoadBalancingConfig[] { new PeakEwmaConfig(), new RingHashConfig() }.Select(c => c.PolicyName));

        maglev.HashKey = null;
        Assert.Empty((IDictionary<string, object>)maglev.Inner["maglev"]);
    }

    [Theory]
    [InlineData(3L)]
    [InlineData(3.0)]
    [InlineData("3")]
    public void GetInt_NumbersAsJsonGivesThem(object value) =>
        Assert.Equal(3, PolicySettings.GetInt(new Dictionary<string, object> { ["choiceCount"] = value }, "choiceCount"));

    [Fact]
    public void GetInt_NotANumber_Throws_NamingTheKeyAndValue()
    {
        var error = Assert.Throws<InvalidOperationException>(() => PolicySettings.GetInt(new Dictionary<string, object> { ["choiceCount"] = "three" }, "choiceCount"));
        Assert.Equal("Load-balancing config 'choiceCount': 'three' is not a whole number.", error.Message);
    }
}
