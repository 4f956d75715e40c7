using Microsoft.Extensions.Configuration;

namespace LoadBalancing.Proxy.Tests.Configuration;

public sealed class ProxyConfigurationTests
{
    private static readonly Dictionary<string, string?> Valid = new()
    {
        ["Proxy:Listeners:0:Url"] = "http://127.0.0.1:8080",
        ["Proxy:Routes:0:Path"] = "/",
        ["Proxy:Routes:0:Cluster"] = "web",
        ["Proxy:Clusters:web:Algorithm"] = "Maglev",
        ["Proxy:Clusters:web:Endpoints:0:Address"] = "10.0.0.1:8080",
        ["Proxy:Clusters:web:Endpoints:1:Address"] = "[fd00::2]:8080",
        ["Proxy:Clusters:web:Endpoints:1:Weight"] = "3",
        ["Proxy:Clusters:web:HashKey:Source"] = "Header",
        ["Proxy:Clusters:web:HashKey:Name"] = "X-User",
        ["Proxy:Clusters:web:Maglev:TableSize"] = "65537",
        ["Proxy:Clusters:web:ConnectTimeout"] = "00:00:01",
    };

    private static ProxyOptions Load(params (string Key, string? Value)[] changes)
    {
        var values = new Dictionary<string, string?>(Valid);
        foreach (var (key, value) in changes)
        {
            values[key] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        return ProxyConfiguration.Load(configuration.GetSection("Proxy"));
    }

    private static string Error(params (string Key, string? Value)[] changes) =>
        Assert.Throws<ProxyConfigurationException>(() => Load(changes)).Message;

    [Fact]
    public void ValidConfiguration_Binds()
    {
        var options = Load();

        var cluster = options.Clusters["web"];
        Assert.Equal(LoadBalancingAlgorithm.Maglev, cluster.Algorithm);
        Assert.Equal(3, cluster.Endpoints[1].Weight);
        Assert.Equal(HashKeySource.Header, cluster.HashKey.Source);
        Assert.Equal(TimeSpan.FromSeconds(1), cluster.ConnectTimeout);
        Assert.Equal("http://127.0.0.1:9901", options.Admin.Url);
    }

    [Fact]
    public void Transport_DefaultsToSockets_AndBindsEventLoop()
    {
        Assert.Equal(ProxyTransport.Sockets, Load().Transport);
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(ProxyTransport.EventLoop, Load(("Proxy:Transport", "EventLoop")).Transport);
        }
        else
        {
            Assert.Contains("Proxy:Transport: EventLoop runs on Linux only", Error(("Proxy:Transport", "EventLoop")), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("Proxy:Transport", "Uring", "Proxy:Transport")]
    [InlineData("Proxy:Clusters:web:Algorithm", "Fastest", "Proxy:Clusters:web:Algorithm")]
    [InlineData("Proxy:Clusters:web:MaxAttempts", "three", "Proxy:Clusters:web:MaxAttempts")]
    [InlineData("Proxy:Clusters:web:ConnectTimeout", "soon", "Proxy:Clusters:web:ConnectTimeout")]
    [InlineData("Proxy:Clusters:web:Colour", "blue", "Colour")]
    [InlineData("Proxy:Listeners:0:Adress", "x", "Adress")]
    public void UnconvertibleOrUnknownKeys_AreNamed(string key, string value, string named)
    {
        var message = Error((key, value));

        Assert.Contains(named, message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Proxy:Clusters:web:Endpoints:0:Address", "10.0.0.1", "Proxy:Clusters:web:Endpoints:0:Address '10.0.0.1' has no port")]
    [InlineData("Proxy:Clusters:web:Endpoints:0:Address", "10.0.0.1:99999", "Proxy:Clusters:web:Endpoints:0:Address '10.0.0.1:99999' has an invalid port")]
    [InlineData("Proxy:Clusters:web:Endpoints:1:Address", "fd00::2:8080", "write [addr]:port")]
    [InlineData("Proxy:Clusters:web:Endpoints:1:Address", "10.0.0.1:8080", "is listed twice")]
    [InlineData("Proxy:Clusters:web:Endpoints:0:Weight", "0", "Proxy:Clusters:web:Endpoints:0:Weight must be between 1 and 1000000")]
    [InlineData("Proxy:Routes:0:Cluster", "api", "Proxy:Routes:0:Cluster: no cluster is named 'api'")]
    [InlineData("Proxy:Routes:0:Path", "api", "Proxy:Routes:0:Path must start with '/'")]
    [InlineData("Proxy:Routes:0:Hosts:0", "a*.example.com", "Proxy:Routes:0:Hosts:0: 'a*.example.com' is not a host pattern")]
    [InlineData("Proxy:Listeners:0:Url", "http://127.0.0.1:8080/path", "Proxy:Listeners:0:Url: 'http://127.0.0.1:8080/path' is not a listen URL")]
    [InlineData("Proxy:Listeners:0:Url", "http://proxy.internal:8080", "'proxy.internal' is not an IP address")]
    [InlineData("Proxy:Clusters:web:MaxAttempts", "9", "Proxy:Clusters:web:MaxAttempts must be between 1 and 8; got 9")]
    [InlineData("Proxy:Clusters:web:ResponseHeaderTimeout", "00:00:00", "Proxy:Clusters:web:ResponseHeaderTimeout must be positive")]
    [InlineData("Proxy:Clusters:web:MaxConcurrentRequests", "0", "Proxy:Clusters:web:MaxConcurrentRequests must be 1 or more (leave it out for no limit); got 0")]
    [InlineData("Proxy:Clusters:web:MaxRequestsPerEndpoint", "0", "Proxy:Clusters:web:MaxRequestsPerEndpoint must be 1 or more (leave it out for no limit); got 0")]
    [InlineData("Proxy:Clusters:web:SessionAffinity:CookieName", "my session", "Proxy:Clusters:web:SessionAffinity:CookieName must be a cookie name (letters, digits and !#$%&'*+-.^_`|~); got 'my session'")]
    [InlineData("Proxy:Clusters:web:SessionAffinity:Path", "app", "Proxy:Clusters:web:SessionAffinity:Path must start with '/' and hold no ';', space or control character; got 'app'")]
    [InlineData("Proxy:Clusters:web:SessionAffinity:Domain", "a.test;x=1", "Proxy:Clusters:web:SessionAffinity:Domain must be a domain name")]
    [InlineData("Proxy:Clusters:web:SessionAffinity:MaxAge", "00:00:00", "Proxy:Clusters:web:SessionAffinity:MaxAge must be 1 second or more")]
    [InlineData("Proxy:Clusters:web:SessionAffinity:SameSite", "None", "Proxy:Clusters:web:SessionAffinity:SameSite None needs Secure Always: browsers refuse a SameSite=None cookie that is not Secure; got Secure SameAsRequest")]
    [InlineData("Proxy:Clusters:web:SessionAffinity:Secure", "Sometimes", "Proxy:Clusters:web:SessionAffinity:Secure")]
    [InlineData("Proxy:Clusters:web:HashKey:Name", null, "Proxy:Clusters:web:HashKey:Name is required when HashKey:Source is Header")]
    [InlineData("Proxy:Clusters:web:Algorithm", "RoundRobin", "Proxy:Clusters:web:HashKey: a request key only steers Maglev and RingHash")]
    [InlineData("Proxy:Clusters:web:Maglev:TableSize", "65536", "Proxy:Clusters:web:Maglev:TableSize must be a prime")]
    [InlineData("Proxy:Clusters:web:Fallback", "cluster-ip", "Proxy:Clusters:web:Fallback 'cluster-ip' has no port")]
    [InlineData("Proxy:MaxRequestBodySize", "-1", "Proxy:MaxRequestBodySize must not be negative")]
    [InlineData("Proxy:Zone", " ", "Proxy:Zone must not be blank (leave it out to ignore topology hints).")]
    public void BadValues_AreRejected_NamingTheKeyAndTheProblem(string key, string? value, string expected)
    {
        var message = Error((key, value));

        Assert.Contains(expected, message, StringComparison.Ordinal);
    }

    [Fact]
    public void SessionAffinity_AnEmptySectionTurnsItOnWithTheDefaults_AndItIsOffWithout()
    {
        Assert.Null(Load().Clusters["web"].SessionAffinity);

        // The JSON provider reads "SessionAffinity": { } as the key with a null value.
        var affinity = Load(("Proxy:Clusters:web:SessionAffinity", null)).Clusters["web"].SessionAffinity;

        Assert.NotNull(affinity);
        Assert.True(affinity.Enabled);
        Assert.Equal(("lb-affinity", "/", null, null), (affinity.CookieName, affinity.Path, affinity.Domain, affinity.MaxAge));
        Assert.Equal((Microsoft.AspNetCore.Http.CookieSecurePolicy.SameAsRequest, Microsoft.AspNetCore.Http.SameSiteMode.Lax, true), (affinity.Secure, affinity.SameSite, affinity.HttpOnly));
    }

    [Fact]
    public void EveryProblemIsReported_NotOnlyTheFirst()
    {
        var exception = Assert.Throws<ProxyConfigurationException>(() => Load(
            ("Proxy:Clusters:web:MaxAttempts", "0"),
            ("Proxy:Routes:0:Path", "x"),
            ("Proxy:Clusters:web:Endpoints:0:Weight", "-2")));

        Assert.Equal(3, exception.Errors.Count);
    }

    [Fact]
    public void MissingListenersAndRoutes_AreNamed_EndpointsWaitForTheSourcesInCode()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Proxy:Clusters:web:Algorithm"] = "RoundRobin",
        }).Build();

        var message = Assert.Throws<ProxyConfigurationException>(() => ProxyConfiguration.Load(configuration.GetSection("Proxy"))).Message;

        Assert.Contains("Proxy:Listeners: at least one listener is needed", message, StringComparison.Ordinal);
        Assert.Contains("Proxy:Routes: at least one route is needed", message, StringComparison.Ordinal);
        Assert.DoesNotContain("Proxy:Clusters:web:Endpoints", message, StringComparison.Ordinal);
    }
}
