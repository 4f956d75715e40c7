using Microsoft.Extensions.Configuration;

namespace LoadBalancing.Proxy.Tests.Routing;

/// <summary>Bad routes in configuration are refused with errors naming the full key path; good ones load.</summary>
public sealed class RouteValidationTests
{
    private static readonly Dictionary<string, string?> Valid = new()
    {
        ["Proxy:Listeners:0:Url"] = "http://127.0.0.1:8080",
        ["Proxy:Routes:0:Path"] = "/",
        ["Proxy:Routes:0:Cluster"] = "web",
        ["Proxy:Clusters:web:Endpoints:0:Address"] = "10.0.0.1:8080",
        ["Proxy:Clusters:canary:Endpoints:0:Address"] = "10.0.0.2:8080",
    };

    private static IReadOnlyList<string> Errors(params (string Key, string? Value)[] changes)
    {
        var values = new Dictionary<string, string?>(Valid);
        foreach (var (key, value) in changes)
        {
            values[key] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        ProxyConfiguration.TryLoad(configuration.GetSection("Proxy"), out _, out var errors);
        return errors;
    }

    public static TheoryData<string[], string> BadRoutes => new()
    {
        {
            ["Proxy:Routes:0:Methods:0=get"],
            "Proxy:Routes:0:Methods:0: 'get' would never match: methods are case-sensitive; did you mean 'GET'?"
        },
        {
            ["Proxy:Routes:0:Ports:0=80", "Proxy:Routes:0:Ports:1=0"],
            "Proxy:Routes:0:Ports:1 must be between 1 and 65535; got 0."
        },
        {
            ["Proxy:Routes:0:Ports:0=65536"],
            "Proxy:Routes:0:Ports:0 must be between 1 and 65535; got 65536."
        },
        {
            ["Proxy:Routes:0:Ports:0=http"],
            "Proxy:Routes:0:Ports:0: 'http' is not a whole number."
        },
        {
            // The same ports in another order (and repeated) are the same condition.
            ["Proxy:Routes:0:Ports:0=80", "Proxy:Routes:0:Ports:1=443", "Proxy:Routes:1:Path=/", "Proxy:Routes:1:Cluster=canary", "Proxy:Routes:1:Ports:0=443", "Proxy:Routes:1:Ports:1=80", "Proxy:Routes:1:Ports:2=80"],
            "Proxy:Routes:1: Proxy:Routes:0 already matches the same requests"
        },
        {
            ["Proxy:Routes:0:Redirect:Hostname=example.com"],
            "Proxy:Routes:0: a route that answers itself (Redirect) takes no Cluster or Backends."
        },
        {
            ["Proxy:Routes:0:Cluster=", "Proxy:Routes:0:Redirect:Hostname=example.com", "Proxy:Routes:0:DirectResponse:Body=x"],
            "Proxy:Routes:0: a route answers with Redirect or DirectResponse, not both."
        },
        {
            ["Proxy:Routes:0:Backends:0:Cluster=web"],
            "Proxy:Routes:0: a route forwards to Cluster or splits over Backends, not both."
        },
        {
            ["Proxy:Routes:1:Path=/a", "Proxy:Routes:1:PathType=Exact", "Proxy:Routes:1:Cluster=web", "Proxy:Routes:1:Rewrite:ReplacePrefixMatch=/b"],
            "Proxy:Routes:1:Rewrite:ReplacePrefixMatch needs a route whose PathType is Prefix; this one is Exact."
        },
        {
            ["Proxy:Routes:1:Path=/a.*", "Proxy:Routes:1:PathType=RegularExpression", "Proxy:Routes:1:Redirect:ReplacePrefixMatch=/b"],
            "Proxy:Routes:1:Redirect:ReplacePrefixMatch needs a route whose PathType is Prefix; this one is RegularExpression."
        },
        {
            ["Proxy:Routes:1:Path=/items/(", "Proxy:Routes:1:PathType=RegularExpression", "Proxy:Routes:1:Cluster=web"],
            "Proxy:Routes:1:Path: '/items/(' is not a valid regular expression"
        },
        {
            ["Proxy:Routes:0:Headers:0:Name=x-version", "Proxy:Routes:0:Headers:0:Type=RegularExpression", "Proxy:Routes:0:Headers:0:Value=v[0-9"],
            "Proxy:Routes:0:Headers:0:Value: 'v[0-9' is not a valid regular expression"
        },
        {
            ["Proxy:Routes:0:QueryParameters:0:Name=id", "Proxy:Routes:0:QueryParameters:0:Type=RegularExpression", "Proxy:Routes:0:QueryParameters:0:Value=*"],
            "Proxy:Routes:0:QueryParameters:0:Value: '*' is not a valid regular expression"
        },
        {
            ["Proxy:Routes:1:Path=/old", "Proxy:Routes:1:Redirect:StatusCode=300"],
            "Proxy:Routes:1:Redirect:StatusCode must be 301, 302, 303, 307 or 308; got 300."
        },
        {
            ["Proxy:Routes:0:RequestHeaders:Set:0:Name=Content-Length", "Proxy:Routes:0:RequestHeaders:Set:0:Value=5"],
            "Proxy:Routes:0:RequestHeaders:Set:0:Name: 'Content-Length' is set by the proxy itself"
        },
        {
            ["Proxy:Routes:0:RequestHeaders:Remove:0=X-Forwarded-For"],
            "Proxy:Routes:0:RequestHeaders:Remove:0: 'X-Forwarded-For' is set by the proxy itself"
        },
        {
            ["Proxy:Routes:0:RequestHeaders:Add:0:Name=Host", "Proxy:Routes:0:RequestHeaders:Add:0:Value=a"],
            "Proxy:Routes:0:RequestHeaders:Add:0:Name: the Host header is changed with Rewrite:Hostname."
        },
        {
            ["Proxy:Routes:0:ResponseHeaders:Set:0:Name=x-a", "Proxy:Routes:0:ResponseHeaders:Set:0:Value=a\r\nInjected: yes"],
            "Proxy:Routes:0:ResponseHeaders:Set:0:Value: a header value cannot contain control characters"
        },
        {
            ["Proxy:Routes:0:RequestHeaders:Add:0:Name=x-a", "Proxy:Routes:0:RequestHeaders:Add:0:Value=a\nb"],
            "Proxy:Routes:0:RequestHeaders:Add:0:Value: a header value cannot contain control characters"
        },
        {
            ["Proxy:Routes:0:ResponseHeaders:Set:0:Name=x a", "Proxy:Routes:0:ResponseHeaders:Set:0:Value=1"],
            "Proxy:Routes:0:ResponseHeaders:Set:0:Name: 'x a' is not a header name."
        },
        {
            ["Proxy:Routes:0:Cluster=", "Proxy:Routes:0:Backends:0:Cluster=web", "Proxy:Routes:0:Backends:0:Weight=0", "Proxy:Routes:0:Backends:1:Cluster=canary", "Proxy:Routes:0:Backends:1:Weight=0"],
            "Proxy:Routes:0:Backends: at least one backend needs a weight above 0."
        },
        {
            ["Proxy:Routes:0:Cluster=", "Proxy:Routes:0:Backends:0:Cluster=web", "Proxy:Routes:0:Backends:1:Cluster=web"],
            "Proxy:Routes:0:Backends:1:Cluster: 'web' is listed twice."
        },
        {
            ["Proxy:Routes:0:Cluster=", "Proxy:Routes:0:Backends:0:Cluster=web", "Proxy:Routes:0:Backends:0:Weight=-1"],
            "Proxy:Routes:0:Backends:0:Weight must be between 0 and 1000000; got -1."
        },
        {
            ["Proxy:Routes:1:Path=/", "Proxy:Routes:1:Cluster=canary"],
            "Proxy:Routes:1: Proxy:Routes:0 already matches the same requests (host '*', Prefix path '/', same conditions); this route would never be used."
        },
        {
            // The same requests written differently: a prefix's trailing slash, header names' case, methods' order.
            [
                "Proxy:Routes:0:Path=/api", "Proxy:Routes:0:Methods:0=GET", "Proxy:Routes:0:Methods:1=POST",
                "Proxy:Routes:0:Headers:0:Name=X-Env", "Proxy:Routes:0:Headers:0:Value=canary",
                "Proxy:Routes:1:Path=/api/", "Proxy:Routes:1:Cluster=canary", "Proxy:Routes:1:Methods:0=POST", "Proxy:Routes:1:Methods:1=GET",
                "Proxy:Routes:1:Headers:0:Name=x-env", "Proxy:Routes:1:Headers:0:Value=canary",
            ],
            "Proxy:Routes:1: Proxy:Routes:0 already matches the same requests"
        },
        {
            ["Proxy:Routes:0:Hosts:0=a.example.com", "Proxy:Routes:0:Hosts:1=b.example.com", "Proxy:Routes:1:Hosts:0=B.example.com", "Proxy:Routes:1:Cluster=canary"],
            "Proxy:Routes:1: Proxy:Routes:0 already matches the same requests (host 'B.example.com'"
        },
        {
            // The table ignores a host's trailing dot (as DNS does), so these are the same host.
            ["Proxy:Routes:0:Hosts:0=api.example.com", "Proxy:Routes:1:Hosts:0=API.example.com.", "Proxy:Routes:1:Cluster=canary"],
            "Proxy:Routes:1: Proxy:Routes:0 already matches the same requests (host 'API.example.com.'"
        },
        {
            ["Proxy:Routes:0:Retry:On:0=503", "Proxy:Routes:0:Retry:On:1=500"],
            "Proxy:Routes:0:Retry:On:1: '500' is not a retry condition; expected one of connect-failure, reset, 502, 503, 504."
        },
        {
            ["Proxy:Routes:0:Retry:MaxAttempts=0"],
            "Proxy:Routes:0:Retry:MaxAttempts must be between 1 and 8; got 0."
        },
        {
            ["Proxy:Routes:0:Retry:BudgetPercent=101"],
            "Proxy:Routes:0:Retry:BudgetPercent must be between 0 and 100; got 101."
        },
        {
            ["Proxy:Routes:0:Timeouts:Request=-00:00:01"],
            "Proxy:Routes:0:Timeouts:Request must be positive"
        },
        {
            ["Proxy:Routes:0:AccessLogSampleRate=1.5"],
            "Proxy:Routes:0:AccessLogSampleRate must be between 0 and 1; got 1.5."
        },
        {
            ["Proxy:Routes:1:Path=/health", "Proxy:Routes:1:DirectResponse:StatusCode=204", "Proxy:Routes:1:DirectResponse:Body=ok"],
            "Proxy:Routes:1:DirectResponse:Body: a 204 response has no body."
        },
        {
            ["Proxy:Routes:1:Path=/health", "Proxy:Routes:1:DirectResponse:StatusCode=101"],
            "Proxy:Routes:1:DirectResponse:StatusCode must be between 200 and 599; got 101."
        },
        {
            ["Proxy:Routes:1:Path=/health", "Proxy:Routes:1:DirectResponse:Body=ok", "Proxy:Routes:1:RequestHeaders:Set:0:Name=x-a", "Proxy:Routes:1:RequestHeaders:Set:0:Value=1"],
            "Proxy:Routes:1:RequestHeaders: only a route that forwards (Cluster or Backends) sends a request upstream to change."
        },
        {
            ["Proxy:Routes:1:Path=/old", "Proxy:Routes:1:Redirect:Scheme=https", "Proxy:Routes:1:Rewrite:Hostname=x.test"],
            "Proxy:Routes:1:Rewrite: only a route that forwards (Cluster or Backends) can rewrite."
        },
        {
            ["Proxy:Routes:0:Rewrite:ReplaceFullPath=/a?b=c"],
            "Proxy:Routes:0:Rewrite:ReplaceFullPath: '/a?b=c' has '?', which a path cannot carry unescaped"
        },
        {
            ["Proxy:Routes:0:Rewrite:ReplaceFullPath=/a", "Proxy:Routes:0:Rewrite:ReplacePrefixMatch=/b"],
            "Proxy:Routes:0:Rewrite: set ReplaceFullPath or ReplacePrefixMatch, not both."
        },
        {
            ["Proxy:Routes:0:Headers:0:Name=x-debug", "Proxy:Routes:0:Headers:0:Type=Present", "Proxy:Routes:0:Headers:0:Value=1"],
            "Proxy:Routes:0:Headers:0:Value: a Present match takes no value; got '1'."
        },
        {
            ["Proxy:Routes:0:QueryParameters:0:Name=q"],
            "Proxy:Routes:0:QueryParameters:0:Value is required for an Exact match"
        },
        {
            ["Proxy:Routes:0:Hosts:0=*.*.example.com"],
            "Proxy:Routes:0:Hosts:0: '*.*.example.com' is not a host pattern"
        },
        {
            ["Proxy:Routes:0:Name=a", "Proxy:Routes:1:Name=a", "Proxy:Routes:1:Path=/b", "Proxy:Routes:1:Cluster=web"],
            "Proxy:Routes:1:Name: 'a' is also the name of Proxy:Routes:0; route names must be unique."
        },
    };

    [Theory]
    [MemberData(nameof(BadRoutes))]
    public void BadRoute_IsRefused_NamingTheKey(string[] settings, string expected)
    {
        var errors = Errors([.. settings.Select(s => (s[..s.IndexOf('=', StringComparison.Ordinal)], (string?)s[(s.IndexOf('=', StringComparison.Ordinal) + 1)..]))]);

        Assert.True(errors.Any(e => e.StartsWith(expected, StringComparison.Ordinal)), "errors:\n" + string.Join("\n", errors));
    }

    [Fact]
    public void RoutesThatDifferOnlyInPorts_AreNotDuplicates()
    {
        var errors = Errors(
            ("Proxy:Routes:0:Ports:0", "80"),
            ("Proxy:Routes:1:Path", "/"),
            ("Proxy:Routes:1:Cluster", "canary"),
            ("Proxy:Routes:1:Ports:0", "443"),
            ("Proxy:Routes:2:Path", "/"),
            ("Proxy:Routes:2:Cluster", "canary"),
            ("Proxy:Routes:2:Ports:0", "80"),
            ("Proxy:Routes:2:Ports:1", "8080"));

        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public void DistinctRoutesOnTheSamePath_AreNotDuplicates()
    {
        var errors = Errors(
            ("Proxy:Routes:0:Path", "/api"),
            ("Proxy:Routes:1:Path", "/api"),
            ("Proxy:Routes:1:PathType", "Exact"),
            ("Proxy:Routes:1:Cluster", "web"),
            ("Proxy:Routes:2:Path", "/api"),
            ("Proxy:Routes:2:Cluster", "canary"),
            ("Proxy:Routes:2:Headers:0:Name", "x-env"),
            ("Proxy:Routes:2:Headers:0:Value", "canary"),
            ("Proxy:Routes:3:Path", "/api"),
            ("Proxy:Routes:3:Cluster", "canary"),
            ("Proxy:Routes:3:Headers:0:Name", "x-env"),
            ("Proxy:Routes:3:Headers:0:Value", "Canary"), // values are case-sensitive: other requests
            ("Proxy:Routes:4:Path", "/api"),
            ("Proxy:Routes:4:Hosts:0", "api.example.com"),
            ("Proxy:Routes:4:Cluster", "canary"));

        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public void EveryRouteFeature_LoadsFromConfiguration()
    {
        var errors = Errors(
            ("Proxy:Routes:0:Name", "api"),
            ("Proxy:Routes:0:Hosts:0", "api.example.com"),
            ("Proxy:Routes:0:Hosts:1", "*.api.example.com"),
            ("Proxy:Routes:0:Path", "/v1"),
            ("Proxy:Routes:0:Methods:0", "GET"),
            ("Proxy:Routes:0:Ports:0", "443"),
            ("Proxy:Routes:0:Headers:0:Name", "x-env"),
            ("Proxy:Routes:0:Headers:0:Type", "Absent"),
            ("Proxy:Routes:0:QueryParameters:0:Name", "id"),
            ("Proxy:Routes:0:QueryParameters:0:Value", "[0-9]+"),
            ("Proxy:Routes:0:QueryParameters:0:Type", "RegularExpression"),
            ("Proxy:Routes:0:Cluster", null),
            ("Proxy:Routes:0:Backends:0:Cluster", "web"),
            ("Proxy:Routes:0:Backends:0:Weight", "9"),
            ("Proxy:Routes:0:Backends:1:Cluster", "canary"),
            ("Proxy:Routes:0:Rewrite:ReplacePrefixMatch", "/v2"),
            ("Proxy:Routes:0:Rewrite:Hostname", "internal.svc"),
            ("Proxy:Routes:0:RequestHeaders:Set:0:Name", "x-a"),
            ("Proxy:Routes:0:RequestHeaders:Set:0:Value", "1"),
            ("Proxy:Routes:0:ResponseHeaders:Remove:0", "server"),
            ("Proxy:Routes:0:Timeouts:Request", "00:00:10"),
            ("Proxy:Routes:0:Timeouts:ResponseHeader", "00:00:02"),
            ("Proxy:Routes:0:Retry:MaxAttempts", "2"),
            ("Proxy:Routes:0:Retry:On:0", "503"),
            ("Proxy:Routes:0:Retry:On:1", "connect-failure"),
            ("Proxy:Routes:0:AccessLogSampleRate", "0.25"),
            ("Proxy:Routes:1:Path", "/"),
            ("Proxy:Routes:1:Redirect:Scheme", "https"),
            ("Proxy:Routes:1:Redirect:StatusCode", "308"),
            ("Proxy:Routes:2:Path", "/healthz"),
            ("Proxy:Routes:2:PathType", "Exact"),
            ("Proxy:Routes:2:DirectResponse:Body", "ok"));

        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }
}
