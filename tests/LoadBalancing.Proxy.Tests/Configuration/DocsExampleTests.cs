using System.Text;
using Microsoft.Extensions.Configuration;

namespace LoadBalancing.Proxy.Tests.Configuration;

/// <summary>The complete example in docs/proxy.md is a configuration the proxy accepts, key for key.</summary>
public sealed class DocsExampleTests
{
    [Fact]
    public void TheCompleteExample_Loads()
    {
        var json = FirstJsonBlockAfter(ReadDoc("docs/proxy.md"), "## Configuration");
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();

        ProxyConfiguration.TryLoad(configuration.GetSection("Proxy"), out var options, out var errors);

        // The example's certificate file exists only on the reader's machine.
        Assert.Equal(["Proxy:Listeners:2:CertificatePath: file '/certs/proxy.pfx' does not exist."], errors);
        Assert.True(options.Routes.Count >= 8, "the example shows the route features");
        Assert.Contains(options.Routes, r => r.Backends.Count > 0);
        Assert.Contains(options.Routes, r => r.Redirect is not null);
        Assert.Contains(options.Routes, r => r.DirectResponse is not null);
        Assert.Contains(options.Routes, r => r.PathType == PathMatchType.RegularExpression);
    }

    [Fact]
    public void TheHealthCheckExample_Loads_WithAnHttpAGrpcAndATcpCheck()
    {
        var json = FirstJsonBlockAfter(ReadDoc("docs/proxy.md"), "## Health checks");
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();

        ProxyConfiguration.TryLoad(configuration.GetSection("Proxy"), out var options, out var errors);

        Assert.Empty(errors);
        Assert.Equal(
            [HealthCheckProtocol.Tcp, HealthCheckProtocol.Grpc, HealthCheckProtocol.Http],
            new[] { "api", "cart", "web" }.Select(name => options.Clusters[name].HealthCheck!.Protocol));
    }

    [Fact]
    public void TheSessionAffinityExample_Loads_AndAnEmptySectionTurnsItOn()
    {
        var json = FirstJsonBlockAfter(ReadDoc("docs/proxy.md"), "## Session affinity");
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();

        ProxyConfiguration.TryLoad(configuration.GetSection("Proxy"), out var options, out var errors);

        Assert.Empty(errors);
        Assert.Equal(("chat-affinity", TimeSpan.FromHours(8)), (options.Clusters["chat"].SessionAffinity!.CookieName, options.Clusters["chat"].SessionAffinity!.MaxAge));
        Assert.Equal((true, SessionAffinityOptions.DefaultCookieName), (options.Clusters["web"].SessionAffinity!.Enabled, options.Clusters["web"].SessionAffinity!.CookieName));
    }

    private static string FirstJsonBlockAfter(string markdown, string heading)
    {
        var at = markdown.IndexOf(heading + "\n", StringComparison.Ordinal);
        Assert.True(at >= 0, $"no '{heading}' section");
        var start = markdown.IndexOf("```json\n", at, StringComparison.Ordinal) + "```json\n".Length;
        var end = markdown.IndexOf("\n```", start, StringComparison.Ordinal);
        return markdown[start..end];
    }

    private static string ReadDoc(string relative)
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, relative);
            if (File.Exists(candidate))
            {
                return File.ReadAllText(candidate);
            }
        }

        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}");
    }
}
