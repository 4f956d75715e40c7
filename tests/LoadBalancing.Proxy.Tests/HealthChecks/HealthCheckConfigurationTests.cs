using System.Text;
using LoadBalancing.Proxy.Health;
using Microsoft.Extensions.Configuration;

namespace LoadBalancing.Proxy.Tests.HealthChecks;

/// <summary>Reading and validating <c>Clusters:&lt;name&gt;:HealthCheck</c>: every bad value named by its full key path.</summary>
public sealed class HealthCheckConfigurationTests
{
    private static (ProxyOptions Options, IReadOnlyList<string> Errors) Load(string healthJson)
    {
        var json = $$"""
            { "Proxy": {
                "Listeners": [ { "Url": "http://127.0.0.1:8080" } ],
                "Routes": [ { "Path": "/", "Cluster": "web" } ],
                "Clusters": { "web": { "Endpoints": [ { "Address": "10.0.0.1:80" } ], "HealthCheck": {{healthJson}} } } } }
            """;
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        ProxyConfiguration.TryLoad(configuration.GetSection("Proxy"), out var options, out var errors);
        return (options, errors);
    }

    [Fact]
    public void PathAlone_TurnsOnAnHttpCheckWithTheDefaults()
    {
        var (options, errors) = Load("""{ "Path": "/healthz" }""");

        Assert.Empty(errors);
        var settings = HealthCheckSettings.From(options.Clusters["web"].HealthCheck)!;
        Assert.Equal(HealthCheckProtocol.Http, settings.Protocol);
        Assert.Equal("/healthz", settings.Path);
        Assert.Equal(TimeSpan.FromSeconds(10), settings.Interval);
        Assert.Equal(TimeSpan.FromSeconds(1), settings.Jitter);
        Assert.Equal(TimeSpan.FromSeconds(2), settings.Timeout);
        Assert.Equal(2, settings.HealthyThreshold);
        Assert.Equal(3, settings.UnhealthyThreshold);
        Assert.Equal(HealthCheckInitialState.Healthy, settings.InitialState);
        Assert.True(settings.Passes(200) && settings.Passes(399) && !settings.Passes(400) && !settings.Passes(199));
    }

    [Fact]
    public void EnabledFalse_KeepsTheSectionButProbesNothing()
    {
        var (options, errors) = Load("""{ "Enabled": false, "Path": "/healthz" }""");

        Assert.Empty(errors);
        Assert.Null(HealthCheckSettings.From(options.Clusters["web"].HealthCheck));
        Assert.True(options.Clusters["web"].ToBalancerOptions(null).AssumeHealthy);
    }

    [Fact]
    public void ExpectedStatuses_CodesAndRanges()
    {
        var (options, errors) = Load("""{ "ExpectedStatuses": "200-299, 404" }""");

        Assert.Empty(errors);
        var settings = HealthCheckSettings.From(options.Clusters["web"].HealthCheck)!;
        Assert.True(settings.Passes(204) && settings.Passes(404));
        Assert.False(settings.Passes(302) || settings.Passes(403) || settings.Passes(503));
    }

    [Fact]
    public void EveryBadValue_IsNamedWithItsFullKeyPath()
    {
        const string Key = "Proxy:Clusters:web:HealthCheck";
        var (_, errors) = Load("""
            { "Path": "healthz", "Host": "a b", "Interval": "00:00:00", "Timeout": "-00:00:01", "Jitter": "00:01:00",
              "HealthyThreshold": 0, "UnhealthyThreshold": 1001, "ExpectedStatuses": "200-1000", "Port": 70000 }
            """);

        Assert.Equal(
            [
                $"{Key}:Path must start with '/' and hold visible ASCII characters only (percent-encode the rest); got 'healthz'.",
                $"{Key}:Host must be a host name, optionally with a port, in visible ASCII; got 'a b'.",
                $"{Key}:ExpectedStatuses: '200-1000': status codes run from 100 to 599; expected codes and ranges such as '200-299,404'.",
                $"{Key}:Interval must be at least 1 ms; got 00:00:00.",
                $"{Key}:Timeout must be positive; got -00:00:01.",
                $"{Key}:Jitter must be between 0 and Interval (00:00:00); got 00:01:00.",
                $"{Key}:HealthyThreshold must be between 1 and 1000; got 0.",
                $"{Key}:UnhealthyThreshold must be between 1 and 1000; got 1001.",
                $"{Key}:Port must be between 1 and 65535; got 70000.",
            ],
            errors);
    }

    [Fact]
    public void OptionsOfAnotherProtocol_AreNamed()
    {
        const string Key = "Proxy:Clusters:web:HealthCheck";
        var (_, tcp) = Load("""{ "Protocol": "Tcp", "Path": "/", "Host": "x", "ServiceName": "s", "ExpectedStatuses": "200" }""");
        var (_, grpc) = Load("""{ "Protocol": "Grpc", "Path": "/", "ExpectedStatuses": "200", "Timeout": "00:00:20" }""");

        Assert.Equal(
            [
                $"{Key}:Path applies to the Http protocol only; Protocol is Tcp.",
                $"{Key}:Host applies to the Http and Grpc protocols only; Protocol is Tcp.",
                $"{Key}:ServiceName applies to the Grpc protocol only; Protocol is Tcp.",
                $"{Key}:ExpectedStatuses applies to the Http protocol only; Protocol is Tcp.",
            ],
            tcp);
        Assert.Equal(
            [
                $"{Key}:Path applies to the Http protocol only; Protocol is Grpc.",
                $"{Key}:ExpectedStatuses applies to the Http protocol only; Protocol is Grpc.",
            ],
            grpc);
    }

    [Fact]
    public void UnknownProtocolAndMisspeltKey_AreNamedByTheShape()
    {
        var (_, errors) = Load("""{ "Protocol": "Udp", "Intervall": "00:00:05" }""");

        Assert.Equal(2, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("Proxy:Clusters:web:HealthCheck:Protocol: ", StringComparison.Ordinal) && e.Contains("Udp", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Proxy:Clusters:web:HealthCheck:Intervall: unknown key", StringComparison.Ordinal) && e.Contains("'Interval'", StringComparison.Ordinal));
    }

    [Fact]
    public void ShortIntervalAlone_IsValid_TheTimeoutMayExceedIt()
    {
        var (_, errors) = Load("""{ "Interval": "00:00:01" }""");

        Assert.Empty(errors);
    }

    [Fact]
    public void ChangingTheCheck_ChangesTheClustersCoreDefinition()
    {
        var (a, _) = Load("""{ "Path": "/healthz" }""");
        var (b, _) = Load("""{ "Path": "/ready" }""");

        Assert.NotEqual(ProxyOptionsJson.Core(a.Clusters["web"]), ProxyOptionsJson.Core(b.Clusters["web"]));
    }

    [Theory]
    [InlineData("", new byte[] { 0, 0, 0, 0, 0 })]
    [InlineData("a", new byte[] { 0, 0, 0, 0, 3, 0x0A, 1, (byte)'a' })]
    public void GrpcRequestFrame_IsALengthPrefixedHealthCheckRequest(string service, byte[] expected) =>
        Assert.Equal(expected, HealthProbes.GrpcRequestFrame(service));

    [Fact]
    public void GrpcRequestFrame_LongServiceName_UsesAMultiByteLength()
    {
        var frame = HealthProbes.GrpcRequestFrame(new string('s', 200));

        Assert.Equal(new byte[] { 0, 0, 0, 0, 203, 0x0A, 0xC8, 0x01 }, frame[..8]);
    }

    [Theory]
    [InlineData(new byte[] { 0, 0, 0, 0, 2, 0x08, 1 }, 1)]
    [InlineData(new byte[] { 0, 0, 0, 0, 2, 0x08, 2 }, 2)]
    [InlineData(new byte[] { 0, 0, 0, 0, 0 }, 0)]
    [InlineData(new byte[] { 0, 0, 0, 0, 5, 0x12, 1, (byte)'x', 0x08, 1 }, 1)]
    public void ParseServingStatus_ReadsField1(byte[] body, int expected) =>
        Assert.Equal(expected, HealthProbes.ParseServingStatus(body));

    [Theory]
    [InlineData(new byte[] { 1, 0, 0, 0, 2, 0x08, 1 })]
    [InlineData(new byte[] { 0, 0, 0, 0, 9, 0x08, 1 })]
    [InlineData(new byte[] { 0, 0, 0 })]
    public void ParseServingStatus_Malformed_IsNull(byte[] body) =>
        Assert.Null(HealthProbes.ParseServingStatus(body));
}
