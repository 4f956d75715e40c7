using System.Security.Cryptography.X509Certificates;
using LoadBalancing.Proxy.Tests.Support;

namespace LoadBalancing.Proxy.Tests.Certificates;

/// <summary>Names match certificates as TLS clients match them: exact, then a one-label wildcard, then <c>*</c>.</summary>
public sealed class ServerCertificateSetTests : IDisposable
{
    private readonly X509Certificate2 _exact = TestCertificates.Create("a.example.com");
    private readonly X509Certificate2 _wildcard = TestCertificates.Create("*.example.com");
    private readonly X509Certificate2 _deep = TestCertificates.Create("*.eu.example.com");
    private readonly X509Certificate2 _any = TestCertificates.Create("default");

    [Theory]
    [InlineData("a.example.com", "exact")]
    [InlineData("A.Example.COM", "exact")] // case-insensitive
    [InlineData("a.example.com.", "exact")] // a trailing dot is ignored
    [InlineData("b.example.com", "wildcard")]
    [InlineData("B.EXAMPLE.com.", "wildcard")]
    [InlineData("x.eu.example.com", "deep")] // the wildcard of the name's parent, not of a grandparent
    [InlineData("a.b.example.com", null)] // a wildcard stands for one label only
    [InlineData("example.com", null)] // ... and not for none
    [InlineData(".example.com", null)]
    [InlineData("other.test", null)]
    [InlineData("", null)]
    [InlineData(null, null)]
    public void GetCertificate_PicksExactThenOneLabelWildcard(string? serverName, string? expected)
    {
        var set = ServerCertificateSet.Empty
            .Add(["*.example.com"], _wildcard)
            .Add(["a.example.com"], _exact) // added after the wildcard: still preferred
            .Add(["*.eu.example.com"], _deep);

        Assert.Same(Expected(expected), set.GetCertificate(serverName));
    }

    [Theory]
    [InlineData("a.example.com", "exact")]
    [InlineData("b.example.com", "wildcard")]
    [InlineData("a.b.example.com", "any")]
    [InlineData("other.test", "any")]
    [InlineData(null, "any")] // a client that sends no name
    public void GetCertificate_FallsBackToStar(string? serverName, string expected)
    {
        var set = ServerCertificateSet.Empty.Add(["*"], _any).Add(["a.example.com"], _exact).Add(["*.example.com"], _wildcard);

        Assert.Same(Expected(expected), set.GetCertificate(serverName));
    }

    [Fact]
    public void Add_LeavesTheSetUnchanged_AndTheFirstCertificateForANameWins()
    {
        var first = ServerCertificateSet.Empty.Add(["a.example.com", "*.example.com"], _exact);

        var second = first.Add(["A.example.com", "c.example.com"], _wildcard);

        Assert.Equal(2, first.Count);
        Assert.Equal(3, second.Count);
        Assert.Same(_exact, second.GetCertificate("a.example.com"));
        Assert.Same(_wildcard, second.GetCertificate("c.example.com"));
        Assert.Same(_exact, first.GetCertificate("c.example.com")); // the wildcard, in the earlier set
        Assert.Equal(0, ServerCertificateSet.Empty.Count);
        Assert.Null(ServerCertificateSet.Empty.GetCertificate("a.example.com"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("*.*.example.com")]
    [InlineData("a.*.example.com")]
    [InlineData("shop.example.com:443")]
    [InlineData("https://shop.example.com")]
    public void Add_RefusesWhatIsNotAHostName(string hostname)
    {
        var error = Assert.Throws<ArgumentException>(() => ServerCertificateSet.Empty.Add([hostname], _exact));

        Assert.Equal("hostnames", error.ParamName);
    }

    public void Dispose()
    {
        _exact.Dispose();
        _wildcard.Dispose();
        _deep.Dispose();
        _any.Dispose();
    }

    private X509Certificate2? Expected(string? name) => name switch
    {
        "exact" => _exact,
        "wildcard" => _wildcard,
        "deep" => _deep,
        "any" => _any,
        _ => null,
    };
}
