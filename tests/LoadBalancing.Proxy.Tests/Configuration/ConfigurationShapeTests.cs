using System.Reflection;
using System.Text;
using LoadBalancing.Configuration;
using Microsoft.Extensions.Configuration;

namespace LoadBalancing.Proxy.Tests.Configuration;

/// <summary>The configuration walker: every problem of a section in one pass, each named by its full key path.</summary>
public sealed class ConfigurationShapeTests
{
    private const string ValidCluster = """
        "Routes": [ { "Path": "/", "Cluster": "web" } ],
        "Clusters": { "web": { "Endpoints": [ { "Address": "10.0.0.1:80" } ] } }
        """;

    private static IReadOnlyList<string> Errors(string proxyJson)
    {
        var json = $$"""{ "Proxy": { {{proxyJson}} } }""";
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        ProxyConfiguration.TryLoad(configuration.GetSection("Proxy"), out _, out var errors);
        return errors;
    }

    private static IReadOnlyList<string> ClusterErrors(string clusterJson) => Errors($$"""
        "Listeners": [ { "Url": "http://127.0.0.1:8080" } ],
        "Routes": [ { "Path": "/", "Cluster": "web" } ],
        "Clusters": { "web": { "Endpoints": [ { "Address": "10.0.0.1:80" } ], {{clusterJson}} } }
        """);

    [Fact]
    public void MisspeltKeyInAnEndpoint_IsNamedByItsPath_WithTheKnownName()
    {
        var errors = Errors("""
            "Listeners": [ { "Url": "http://127.0.0.1:8080" } ],
            "Routes": [ { "Path": "/", "Cluster": "web" } ],
            "Clusters": { "web": { "Endpoints": [ { "Adress": "10.0.0.1:80" } ] } }
            """);

        // The empty Address the typo leaves behind is not reported a second time.
        Assert.Equal(["Proxy:Clusters:web:Endpoints:0:Adress: unknown key (set to '10.0.0.1:80'); did you mean 'Address'?"], errors);
    }

    [Fact]
    public void MisspeltKeyInARoute_IsNamedByItsPath()
    {
        var errors = Errors("""
            "Listeners": [ { "Url": "http://127.0.0.1:8080" } ],
            "Routes": [ { "Path": "/", "Cluster": "web" }, { "Pth": "/api", "Cluster": "web" } ],
            "Clusters": { "web": { "Endpoints": [ { "Address": "10.0.0.1:80" } ] } }
            """);

        Assert.Equal(["Proxy:Routes:1:Pth: unknown key (set to '/api'); did you mean 'Path'?"], errors);
    }

    [Fact]
    public void UnknownKeyFarFromAnyName_ListsTheKnownKeys()
    {
        var errors = Errors($$"""
            "Listeners": [ { "Url": "http://127.0.0.1:8080", "Colour": "blue" } ],
            {{ValidCluster}}
            """);

        Assert.Equal(["Proxy:Listeners:0:Colour: unknown key (set to 'blue'); a listener takes Url, Protocols, CertificatePath, CertificatePassword."], errors);
    }

    [Fact]
    public void UnknownKeyInTheClustersKubernetesSection_IsNamedByItsPath()
    {
        var errors = Errors("""
            "Listeners": [ { "Url": "http://127.0.0.1:8080" } ],
            "Routes": [ { "Path": "/", "Cluster": "web" } ],
            "Clusters": { "web": { "Kubernetes": { "Namespace": "shop", "Servce": "web" } } }
            """);

        Assert.Equal(["Proxy:Clusters:web:Kubernetes:Servce: unknown key (set to 'web'); did you mean 'Service'?"], errors);
    }

    [Theory]
    [InlineData("Maglevv", "'Maglevv' is not a balancing algorithm; did you mean 'Maglev'? accepted: RoundRobin, Random, LeastRequest, PeakEwma, RingHash, Maglev.")]
    [InlineData("least-request", "'least-request' is not a balancing algorithm; did you mean 'LeastRequest'? accepted:")]
    [InlineData("Fastest", "'Fastest' is not a balancing algorithm; accepted: RoundRobin, Random, LeastRequest, PeakEwma, RingHash, Maglev.")]
    [InlineData("3", "'3' is not a balancing algorithm")]
    public void UnknownAlgorithm_ListsTheAcceptedNames(string value, string expected)
    {
        var error = Assert.Single(ClusterErrors($"\"Algorithm\": \"{value}\""));

        Assert.StartsWith("Proxy:Clusters:web:Algorithm: " + expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void EnumNames_AreCaseInsensitive()
    {
        Assert.Empty(ClusterErrors("\"Algorithm\": \"maglev\", \"HashKey\": { \"Source\": \"clientip\" }"));
    }

    [Theory]
    [InlineData("\"ConnectTimeout\": \"2s\"", "Proxy:Clusters:web:ConnectTimeout: '2s' is not a duration as [d.]hh:mm:ss[.fff] (00:00:02 is 2 seconds); did you mean '00:00:02'?")]
    [InlineData("\"IdleTimeout\": \"500ms\"", "Proxy:Clusters:web:IdleTimeout: '500ms' is not a duration as [d.]hh:mm:ss[.fff] (00:00:02 is 2 seconds); did you mean '00:00:00.5000000'?")]
    [InlineData("\"MaxAttempts\": \"three\"", "Proxy:Clusters:web:MaxAttempts: 'three' is not a whole number.")]
    [InlineData("\"PreserveHost\": \"yes\"", "Proxy:Clusters:web:PreserveHost: 'yes' is not true or false.")]
    [InlineData("\"HashBalanceFactor\": \"1,25\"", "Proxy:Clusters:web:HashBalanceFactor: '1,25' is not a number (such as 1.25).")]
    [InlineData("\"MaxAttempts\": { \"Value\": 3 }", "Proxy:Clusters:web:MaxAttempts: expected a whole number; got a section with keys Value.")]
    [InlineData("\"OutlierDetection\": \"off\"", "Proxy:Clusters:web:OutlierDetection: 'off' is a value; expected OutlierDetection.")]
    [InlineData("\"Endpoints\": { \"a\": { \"Address\": \"10.0.0.2:80\" } }", "Proxy:Clusters:web:Endpoints:a: 'a' is not a list index; Endpoints is a list (a JSON array).")]
    public void ValuesThatDoNotConvert_AreNamedWithWhatIsAccepted(string json, string expected)
    {
        Assert.Equal([expected], ClusterErrors(json));
    }

    [Fact]
    public void NullsAndEmptyCollections_LeaveTheDefaults()
    {
        var errors = Errors($$"""
            "Listeners": [ { "Url": "http://127.0.0.1:8080", "Protocols": null } ],
            "MaxRequestBodySize": null,
            "Admin": { },
            {{ValidCluster.Replace("\"Endpoints\"", "\"SlowStart\": {}, \"HashKey\": null, \"Endpoints\"", StringComparison.Ordinal)}}
            """);

        Assert.Empty(errors);
    }

    [Fact]
    public void EveryProblem_IsReportedInOneRun_BindingAndValueErrorsTogether()
    {
        var errors = Errors("""
            "Listeners": [ { "Url": "http://127.0.0.1:80800" } ],
            "Routes": [ { "Path": "/", "Cluster": "web" }, { "Pth": "/x", "Cluster": "web" } ],
            "Clusters": { "web": {
              "Algorithm": "LeastRequest", "ConnectTimeout": "2s", "MaxAttempts": 9,
              "HashKey": { "Source": "Header", "Name": "X-User" },
              "Endpoints": [ { "Adress": "10.0.0.1:80" }, { "Address": "10.0.0.2:80", "Weight": "heavy" } ] } }
            """);

        Assert.Collection(
            errors,
            e => Assert.StartsWith("Proxy:Clusters:web:ConnectTimeout: '2s' is not a duration", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:Clusters:web:Endpoints:0:Adress: unknown key", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:Clusters:web:Endpoints:1:Weight: 'heavy' is not a whole number", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:Routes:1:Pth: unknown key", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:Listeners:0:Url: 'http://127.0.0.1:80800' is not a listen URL", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:Clusters:web:MaxAttempts must be between 1 and 8; got 9", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:Clusters:web:HashKey: a request key only steers Maglev and RingHash; Algorithm is LeastRequest", e, StringComparison.Ordinal));
    }

    [Fact]
    public void AKeyThatDoesNotConvert_SuppressesOnlyItsOwnValueChecks()
    {
        var errors = ClusterErrors("""
            "Algorithm": "Maglevv", "HashKey": { "Source": "Header", "Name": "X-User" },
            "MaxAttempts": 0,
            "OutlierDetection": { "BaseEjectionTime": "30s", "MaxEjectionTime": "00:00:10" }
            """);

        // Not "a request key only steers Maglev" (Algorithm kept its default) nor "MaxEjectionTime must not be less
        // than BaseEjectionTime" (BaseEjectionTime did not bind); MaxAttempts is still checked.
        Assert.Collection(
            errors,
            e => Assert.StartsWith("Proxy:Clusters:web:Algorithm: 'Maglevv'", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:Clusters:web:OutlierDetection:BaseEjectionTime: '30s'", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:Clusters:web:MaxAttempts must be between 1 and 8; got 0", e, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080", "http://127.0.0.1:8080", true)]
    [InlineData("http://0.0.0.0:8080", "http://127.0.0.1:8080", true)]
    [InlineData("http://[::]:8080", "http://127.0.0.1:8080", true)]
    [InlineData("http://localhost:8080", "http://[::1]:8080", true)]
    [InlineData("http://127.0.0.1:8080", "http://127.0.0.2:8080", false)]
    [InlineData("http://127.0.0.1:8080", "http://127.0.0.1:8081", false)]
    [InlineData("http://127.0.0.1:0", "http://127.0.0.1:0", false)]
    public void TwoListenersOnOneAddressAndPort_AreAConflict(string first, string second, bool conflict)
    {
        var errors = Errors($$"""
            "Listeners": [ { "Url": "{{first}}" }, { "Url": "{{second}}" } ],
            {{ValidCluster}}
            """);

        if (conflict)
        {
            var error = Assert.Single(errors);
            Assert.StartsWith($"Proxy:Listeners:1:Url: '{second}' takes port 8080 on an address Proxy:Listeners:0:Url ('{first}') already listens on", error, StringComparison.Ordinal);
        }
        else
        {
            Assert.Empty(errors);
        }
    }

    [Theory]
    [InlineData("http://127.0.0.1:9901")]
    [InlineData("http://127.0.0.2:9901")]
    public void AListenerOnTheAdminPort_IsAConflict_OnAnyAddress(string listener)
    {
        var errors = Errors($$"""
            "Listeners": [ { "Url": "{{listener}}" } ],
            {{ValidCluster}}
            """);

        Assert.Equal([$"Proxy:Admin:Url: 'http://127.0.0.1:9901' takes port 9901, which Proxy:Listeners:0:Url ('{listener}') listens on; the admin endpoint needs a port of its own."], errors);
    }

    [Theory]
    [InlineData("Pth", "Path")]
    [InlineData("Adress", "Address")]
    [InlineData("Adrdess", "Address")]
    [InlineData("Adderss", "Address")]
    [InlineData("URL", "Url")]
    [InlineData("least_request", "LeastRequest")]
    [InlineData("Hots", "Host")]
    [InlineData("Ur", "Url")]
    [InlineData("Colour", null)]
    [InlineData("Xyz", null)]
    public void Suggest_FindsTheClosestKnownName(string input, string? expected)
    {
        Assert.Equal(expected, ConfigurationNames.Suggest(input, ["Address", "Path", "Host", "Url", "LeastRequest", "Cluster"]));
    }

    [Theory]
    [InlineData("Path", "Path", 0)]
    [InlineData("Pth", "Path", 1)]
    [InlineData("Ptah", "Path", 1)]
    [InlineData("Host", "Path", 4)]
    [InlineData("", "Url", 3)]
    public void Distance_CountsInsertionsDeletionsSubstitutionsAndTranspositions(string a, string b, int expected)
    {
        Assert.Equal(expected, ConfigurationNames.Distance(a, b));
    }

    [Fact]
    public void TheShapes_ListEveryBindableProperty_OfTheOptionsClasses()
    {
        var shapes = new (Type Type, IReadOnlyList<string> Names)[]
        {
            (typeof(ProxyOptions), ProxyConfigurationShape.Proxy.Names),
            (typeof(ListenerOptions), ProxyConfigurationShape.Listener.Names),
            (typeof(AdminOptions), ProxyConfigurationShape.Admin.Names),
            (typeof(ProxyRouteOptions), ProxyConfigurationShape.Route.Names),
            (typeof(ClusterOptions), ProxyConfigurationShape.Cluster.Names),
            (typeof(EndpointOptions), ProxyConfigurationShape.Endpoint.Names),
            (typeof(HashKeyOptions), ProxyConfigurationShape.HashKey.Names),
            (typeof(KubernetesServiceOptions), ProxyConfigurationShape.KubernetesService.Names),
            (typeof(LeastRequestOptions), ProxyConfigurationShape.LeastRequest.Names),
            (typeof(PeakEwmaOptions), ProxyConfigurationShape.PeakEwma.Names),
            (typeof(MaglevOptions), ProxyConfigurationShape.Maglev.Names),
            (typeof(RingHashOptions), ProxyConfigurationShape.RingHash.Names),
            (typeof(OutlierDetectionOptions), ProxyConfigurationShape.OutlierDetection.Names),
            (typeof(SlowStartOptions), ProxyConfigurationShape.SlowStart.Names),
            (typeof(HealthCheckOptions), ProxyConfigurationShape.HealthCheck.Names),
            (typeof(AccessLogOptions), ProxyConfigurationShape.AccessLog.Names),
            (typeof(UpstreamTlsOptions), ProxyConfigurationShape.UpstreamTls.Names),
        };

        // Set by route sources on the routes they publish, never read from configuration.
        var notConfiguration = new HashSet<(Type, string)> { (typeof(ProxyRouteOptions), nameof(ProxyRouteOptions.Origin)) };
        foreach (var (type, names) in shapes)
        {
            var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Where(p => p.CanWrite || p.PropertyType.IsGenericType)
                .Where(p => !notConfiguration.Contains((type, p.Name)))
                .Select(p => p.Name)
                .Order(StringComparer.Ordinal);
            Assert.Equal(properties, names.Order(StringComparer.Ordinal));
        }
    }
}
