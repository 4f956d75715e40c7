using System.Diagnostics;
using System.Text.Json;
using LoadBalancing.Kubectl.Tests.Support;

namespace LoadBalancing.Kubectl.Tests;

/// <summary>
/// The published <c>kubectl-lb</c> executable (NativeAOT, or any other build) run as a process against the same rig as
/// the in-process tests: every command, every output format and a kubeconfig. Runs when <c>KUBECTL_LB_EXECUTABLE</c>
/// names the executable (tests/NativeAot/kubectl-lb.sh publishes it and sets it); skipped otherwise.
/// </summary>
public sealed class PublishedToolTests
{
    private static readonly string? Executable = Environment.GetEnvironmentVariable("KUBECTL_LB_EXECUTABLE");

    [Fact]
    public async Task PublishedExecutable_RunsEveryCommandAndFormat()
    {
        Assert.SkipWhen(string.IsNullOrEmpty(Executable), "KUBECTL_LB_EXECUTABLE is not set (tests/NativeAot/kubectl-lb.sh sets it).");
        await using var rig = await ProxyPodRig.StartAsync(TestContext.Current.CancellationToken);
        var version = rig.Api.Get(LoadBalancing.Kubernetes.Tests.Support.ApiResource.EndpointSlices, "shop", "web-1")!["metadata"]!["resourceVersion"]!.GetValue<string>();

        var (code, output, error) = await RunAsync([.. rig.Flags, "backends", "web"]);
        Assert.True(code == 0, error);
        Assert.Matches($@"CLUSTER web\s+algorithm PeakEwma\s+version \d+\s+freshness current\s+usable 1/1\s+slices web-1@{version}\n", output);

        (code, output, error) = await RunAsync([.. rig.Flags, "backends", "-o", "json"]);
        Assert.True(code == 0, error);
        using (var json = JsonDocument.Parse(output))
        {
            Assert.Equal("lb-proxy-0", json.RootElement[0].GetProperty("pod").GetString());
        }

        (code, output, error) = await RunAsync([.. rig.Flags, "backends", "web", "-o", "yaml"]);
        Assert.True(code == 0, error);
        Assert.StartsWith("- pod: lb-proxy-0", output, StringComparison.Ordinal);
        Assert.Matches(@"\n    freshness: current\n", output);
        Assert.Matches($@"\n        version: ""{version}""\n", output); // a string that looks like a number stays a string

        (code, output, error) = await RunAsync([.. rig.Flags, "routes"]);
        Assert.True(code == 0, error);
        Assert.Contains("web-by-config", output, StringComparison.Ordinal);

        (code, output, error) = await RunAsync([.. rig.Flags, "freshness"]);
        Assert.True(code == 0, error);
        Assert.Matches(@"lb-proxy-0\s+web\s+current", output);

        (code, output, error) = await RunAsync([.. rig.Flags, "diff"]);
        Assert.True(code == 0, output + error);
        rig.Api.ApplySilently("shop", ProxyPodRig.WebSlice(rig.BackendPort, ProxyPodRig.BackendIp, "127.0.0.22"));
        (code, output, error) = await RunAsync([.. rig.Flags, "diff", "web"]);
        Assert.True(code == 1, output + error);
        Assert.Contains("1 of 1 replicas differ from the EndpointSlices", output, StringComparison.Ordinal);

        // A kubeconfig file and its context, as kubectl hands them over.
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"kubectl-lb-kubeconfig-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(kubeconfig, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: fake
              cluster:
                server: {rig.Api.Url}
            users:
            - name: operator
              user:
                token: not-checked
            contexts:
            - name: edge
              context: {"{"} cluster: fake, user: operator, namespace: edge {"}"}
            current-context: edge
            """, TestContext.Current.CancellationToken);
        try
        {
            (code, output, error) = await RunAsync(["backends", "--kubeconfig", kubeconfig, "--admin-port", rig.AdminPort.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            Assert.True(code == 0, error);
            Assert.Contains("POD lb-proxy-0", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(kubeconfig);
        }

        (code, _, error) = await RunAsync(["backends", "--api-server", "http://127.0.0.1:1", "-n", "edge"]);
        Assert.Equal(2, code);
        Assert.False(string.IsNullOrWhiteSpace(error));
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(string[] args)
    {
        var start = new ProcessStartInfo(Executable!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        return (process.ExitCode, await output, await error);
    }
}
