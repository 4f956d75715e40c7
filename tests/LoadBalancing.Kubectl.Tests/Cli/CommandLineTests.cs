using LoadBalancing.Kubectl.Cli;

namespace LoadBalancing.Kubectl.Tests.Cli;

public sealed class CommandLineTests
{
    [Fact]
    public void TryParse_KubectlStyleFlags_AreRead()
    {
        var options = CommandLine.TryParse(
            ["backends", "web", "-n", "edge", "--context=prod", "--kubeconfig", "/tmp/k", "-l", "app=proxy", "--admin-port", "9000", "--all-pods", "-o", "json", "--request-timeout", "2m"], out var error);

        Assert.NotNull(options);
        Assert.Equal("", error);
        Assert.Equal(new CommandLine("backends", "web", "/tmp/k", "prod", "edge", null, "app=proxy", 9000, null, true, true, TimeSpan.FromMinutes(2)), options);
    }

    [Fact]
    public void TryParse_Watch_TakesAnInterval_AndIsRefusedForDiff()
    {
        Assert.Equal(TimeSpan.FromSeconds(2), CommandLine.TryParse(["backends", "-w"], out _)!.Watch);
        Assert.Equal(TimeSpan.FromMilliseconds(500), CommandLine.TryParse(["freshness", "--watch", "--interval", "500ms"], out _)!.Watch);
        Assert.Null(CommandLine.TryParse(["backends"], out _)!.Watch);

        Assert.Null(CommandLine.TryParse(["diff", "--watch"], out var error));
        Assert.Contains("--watch is for backends, routes and freshness", error, StringComparison.Ordinal);
        Assert.Null(CommandLine.TryParse(["backends", "-w", "--interval", "soon"], out error));
        Assert.Contains("--interval: 'soon'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParse_Defaults_AreKubectlsAndTheProxys()
    {
        var options = CommandLine.TryParse(["diff"], out _);

        Assert.NotNull(options);
        Assert.Equal("app=lb-proxy", options.Selector);
        Assert.Equal(9901, options.AdminPort);
        Assert.Null(options.Namespace);
        Assert.False(options.Json);
        Assert.Equal(TimeSpan.FromSeconds(30), options.RequestTimeout);
    }

    [Theory]
    [InlineData(new[] { "frob" }, "unknown command 'frob'")]
    [InlineData(new string[0], "no command given")]
    [InlineData(new[] { "backends", "--admin-port", "0" }, "--admin-port: '0' is not a port number")]
    [InlineData(new[] { "backends", "-o", "wide" }, "--output: 'wide' is not table, json or yaml")]
    [InlineData(new[] { "backends", "-n" }, "-n needs a value")]
    [InlineData(new[] { "backends", "--pod", "a", "--all-pods" }, "--pod and --all-pods exclude each other")]
    [InlineData(new[] { "routes", "web" }, "routes takes no CLUSTER argument")]
    [InlineData(new[] { "backends", "--follow" }, "unknown flag '--follow'")]
    [InlineData(new[] { "backends", "--request-timeout", "0s" }, "--request-timeout: '0s' is not a duration")]
    [InlineData(new[] { "backends", "--request-timeout=5x" }, "--request-timeout: '5x' is not a duration")]
    public void TryParse_Mistakes_AreNamed(string[] args, string expected)
    {
        Assert.Null(CommandLine.TryParse(args, out var error));
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_Help_PrintsUsageAndExitsZero()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = await KubectlLb.RunAsync(["--help"], output, error, TestContext.Current.CancellationToken);

        Assert.Equal(0, code);
        Assert.Contains("Usage: kubectl lb <command>", output.ToString(), StringComparison.Ordinal);
    }
}
