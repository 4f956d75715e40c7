namespace LoadBalancing.Tests.Endpoints;

public sealed class EndpointTests
{
    [Theory]
    [InlineData("10.0.0.1", 80, "10.0.0.1:80")]
    [InlineData("::1", 8080, "[::1]:8080")]
    [InlineData("2001:0db8:0000:0000:0000:0000:0000:0001", 443, "[2001:db8::1]:443")]
    public void HashKey_Default_IsCanonicalAddressAndPort(string address, int port, string expected)
    {
        var endpoint = new BackendEndpoint(address, port);

        Assert.Equal(expected, endpoint.HashKey);
        Assert.False(endpoint.IsHashKeyExplicit);
    }

    [Fact]
    public void HashKey_Explicit_IsKeptWhenAddressChanges()
    {
        var before = new BackendEndpoint("10.0.0.1", 80, hashKey: "web-0");
        var after = new BackendEndpoint("10.0.0.9", 80, hashKey: "web-0");

        Assert.Equal(before.HashKey, after.HashKey);
        Assert.NotEqual(before, after);
    }

    [Fact]
    public void Equality_IsByAddressAndPortOnly()
    {
        var a = new BackendEndpoint("10.0.0.1", 80, weight: 1, zone: "a");
        var b = new BackendEndpoint("10.0.0.1", 80, weight: 5, zone: "b", conditions: EndpointConditions.Serving);

        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, new BackendEndpoint("10.0.0.1", 81));
    }

    [Fact]
    public void Address_IPv6_IsNormalised()
    {
        Assert.Equal(new BackendEndpoint("0:0:0:0:0:0:0:1", 80), new BackendEndpoint("::1", 80));
    }

    [Theory]
    [InlineData(0, 1, "port")]
    [InlineData(65536, 1, "port")]
    [InlineData(80, 0, "weight")]
    [InlineData(80, -3, "weight")]
    public void Constructor_OutOfRange_NamesTheFieldAndValue(int port, int weight, string field)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new BackendEndpoint("10.0.0.1", port, weight));

        Assert.Equal(field, error.ParamName);
        Assert.Contains(field == "port" ? port.ToString(System.Globalization.CultureInfo.InvariantCulture) : weight.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_EmptyHashKey_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() => new BackendEndpoint("10.0.0.1", 80, hashKey: ""));

        Assert.Equal("hashKey", error.ParamName);
    }
}
