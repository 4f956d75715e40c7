using System.Text.Json;
using LoadBalancing.Kubectl.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancing.Kubectl.Tests;

/// <summary>kubectl lb against a real ProxyHost "pod", reached through the test API server's pod proxy subresource.</summary>
public sealed class KubectlLbTests
{
    [Fact]
    public async Task Backends_NamesTheClusterAndItsEndpoints()
    {
        await using var rig = await ProxyPodRig.StartAsync(TestContext.Current.CancellationToken);

        var (code, output, error) = await rig.KubectlAsync("backends", "web");

        Assert.True(code == 0, error);
        Assert.Contains("POD lb-proxy-0", output, StringComparison.Ordinal);
        Assert.Matches(@"CLUSTER web\s+algorithm PeakEwma\s+version \d+\s+freshness current\s+usable 1/1", output);
        Assert.Matches($@"\n  {ProxyPodRig.BackendIp}:{rig.BackendPort}\s+-\s+1\s+ready,serving\s+0\s", output);
        Assert.DoesNotContain("ingress:", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Backends_ShowsTheReplicasZone_AndTheSessionAffinityCookie()
    {
        await using var rig = await ProxyPodRig.StartAsync(
            TestContext.Current.CancellationToken, proxyExtras: "\"Zone\": \"zone-a\",", clusterExtras: "\"SessionAffinity\": { \"CookieName\": \"shop\" },");

        var (code, output, error) = await rig.KubectlAsync("backends", "web");

        // The slice carries no topology hints: every zone's endpoints serve this replica.
        Assert.True(code == 0, error);
        var line = output.Split('\n').First(l => l.StartsWith("CLUSTER web ", StringComparison.Ordinal));
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(line, @"^CLUSTER web\s+.*usable 1/1   zone zone-a \(all zones\)   affinity cookie shop \(0 moved\)   slices web-1@"), line);
    }

    [Fact]
    public async Task Backends_ShowsEachEndpointsRunningTotals()
    {
        await using var rig = await ProxyPodRig.StartAsync(TestContext.Current.CancellationToken);
        var listener = rig.App.Services.GetRequiredService<LoadBalancing.Proxy.ProxyListeners>().ProxyEndPoint!;
        using (var client = new HttpClient { BaseAddress = new Uri($"http://{listener}/"), Timeout = TimeSpan.FromSeconds(30) })
        {
            for (var i = 0; i < 3; i++)
            {
                using var response = await client.GetAsync("config-route", TestContext.Current.CancellationToken);
                Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            }
        }

        var (code, output, error) = await rig.KubectlAsync("backends", "web");

        Assert.True(code == 0, error);
        Assert.Contains("REQUESTS   2XX   5XX   TIMEOUTS   CONNECT-FAILS   EJECTIONS", output, StringComparison.Ordinal);

        // Requests 3, 2xx 3, 5xx 0, timeouts 0, connect failures 0, ejections 0.
        Assert.Matches($@"\n  {ProxyPodRig.BackendIp}:{rig.BackendPort}\s+-\s+1\s+ready,serving\s+0\s+\S+\s+3\s+3\s+0\s+0\s+0\s+0\s", output);
    }

    [Fact]
    public async Task Backends_Watch_DrawsAgainUntilInterrupted()
    {
        await using var rig = await ProxyPodRig.StartAsync(TestContext.Current.CancellationToken);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var output = new FramesWriter(frames: 3, stop);
        using var error = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);

        var code = await KubectlLb.RunAsync(["backends", "web", "--watch", "--interval", "50ms", .. rig.Flags], output, error, stop.Token)
            .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.True(code == 0, error.ToString());
        Assert.True(output.Frames >= 3);
        Assert.True(System.Text.RegularExpressions.Regex.Count(output.ToString(), @"CLUSTER web\s") >= 2);
    }

    /// <summary>Cancels once the watch has started its third frame: the command then ends as an interrupted watch does.</summary>
    private sealed class FramesWriter(int frames, CancellationTokenSource stop) : StringWriter(System.Globalization.CultureInfo.InvariantCulture)
    {
        public int Frames { get; private set; }

        public override Task WriteLineAsync(string? value)
        {
            if (value?.StartsWith("Every ", StringComparison.Ordinal) == true && ++Frames >= frames)
            {
                stop.Cancel();
            }

            return base.WriteLineAsync(value);
        }
    }

    [Fact]
    public async Task Backends_AsYaml_IsTheSameDocument()
    {
        await using var rig = await ProxyPodRig.StartAsync(TestContext.Current.CancellationToken);

        var (code, output, error) = await rig.KubectlAsync("backends", "web", "-o", "yaml");

        Assert.True(code == 0, error);
        Assert.StartsWith("- pod: lb-proxy-0", output, StringComparison.Ordinal);
        Assert.Matches(@"\n  - name: web\n", output);
        Assert.Matches(@"\n    freshness: current\n", output);
    }

    [Fact]
    public async Task Backends_AsJson_IsValidJsonWithEveryCluster()
    {
        await using var rig = await ProxyPodRig.StartAsync(TestContext.Current.CancellationToken);

        var (code, output, error) = await rig.KubectlAsync("backends", "-o", "json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var pod = Assert.Single(json.RootElement.EnumerateArray());
        Assert.Equal("lb-proxy-0", pod.GetProperty("pod").GetString());
        var names = pod.GetProperty("clusters").EnumerateArray().Select(c => c.GetProperty("name").GetString()).ToList();
        Assert.Contains("web", names);
        Assert.Contains("ingress:shop/web:http", names);
    }

    [Fact]
    public async Task Backends_NamesTheSlicesAndTheirVersions_InTheHeaderAndTheJson()
    {
        await using var rig = await ProxyPodRig.StartAsync(TestContext.Current.CancellationToken);
        var version = rig.Api.Get(LoadBalancing.Kubernetes.Tests.Support.ApiResource.EndpointSlices, "shop", "web-1")!["metadata"]!["resourceVersion"]!.GetValue<string>();

        var (code, output, error) = await rig.KubectlAsync("backends", "web");
        Assert.True(code == 0, error);
        Assert.Matches($@"CLUSTER web\s+.*usable 1/1\s+slices web-1@{version}\n", output);

        (code, output, error) = await rig.KubectlAsync("backends", "web", "-o", "json");
        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var origin = Assert.Single(json.RootElement[0].GetProperty("clusters")[0].GetProperty("source").GetProperty("origins").EnumerateArray());
        Assert.Equal(("EndpointSlice", "web-1", version), (origin.GetProperty("kind").GetString(), origin.GetProperty("name").GetString(), origin.GetProperty("version").GetString()));
        Assert.Equal("IPv4", origin.GetProperty("details").GetProperty("addressType").GetString());
    }

    [Fact]
    public async Task Diff_ExitsZeroWhenCurrent_ThenOneNamingTheEndpointTheWatchMissed()
    {
        await using var rig = await ProxyPodRig.StartAsync(TestContext.Current.CancellationToken);

        var (code, output, error) = await rig.KubectlAsync("diff");
        Assert.True(code == 0, output + error);
        Assert.Contains("all 1 replicas match the EndpointSlices", output, StringComparison.Ordinal);

        // The watch never hears of the new endpoint, and discovery confirms only every 30 minutes: the proxy is stale.
        rig.Api.ApplySilently("shop", ProxyPodRig.WebSlice(rig.BackendPort, ProxyPodRig.BackendIp, "127.0.0.22"));
        (code, output, error) = await rig.KubectlAsync("diff", "web");

        Assert.True(code == 1, output + error);
        Assert.Matches($@"lb-proxy-0\s+web\s+shop/web:http\s+missing\s+127\.0\.0\.22:{rig.BackendPort}\s+-\s+ready,serving", output);
        Assert.Contains("1 of 1 replicas differ from the EndpointSlices", output, StringComparison.Ordinal);

        (code, output, _) = await rig.KubectlAsync("diff", "-o", "json");
        Assert.Equal(1, code);
        using var json = JsonDocument.Parse(output);
        Assert.Contains(json.RootElement.GetProperty("differences").EnumerateArray(), d =>
            d.GetProperty("difference").GetString() == "missing" && d.GetProperty("endpoint").GetString() == $"127.0.0.22:{rig.BackendPort}");
    }

    [Fact]
    public async Task Diff_NamesExtraEndpointsAndConditionMismatches()
    {
        await using var rig = await ProxyPodRig.StartAsync(TestContext.Current.CancellationToken);

        // The backend went unready (still serving) and a pod the proxy never heard of appeared in its place.
        rig.Api.ApplySilently("shop", LoadBalancing.Kubernetes.Tests.Support.Slices.Slice(
            "web-1", "web", [new([ProxyPodRig.BackendIp], Ready: false, Serving: true), new(["127.0.0.23"])], [("http", rig.BackendPort)]));
        var (code, output, error) = await rig.KubectlAsync("diff", "web");

        Assert.True(code == 1, output + error);
        Assert.Matches($@"lb-proxy-0\s+web\s+shop/web:http\s+conditions\s+{ProxyPodRig.BackendIp}:{rig.BackendPort}\s+ready,serving\s+serving\n", output);
        Assert.Matches($@"lb-proxy-0\s+web\s+shop/web:http\s+missing\s+127\.0\.0\.23:{rig.BackendPort}\s+-\s+ready,serving\n", output);

        rig.Api.ApplySilently("shop", ProxyPodRig.WebSlice(rig.BackendPort, "127.0.0.23"));
        (code, output, error) = await rig.KubectlAsync("diff", "web");

        Assert.True(code == 1, output + error);
        Assert.Matches($@"lb-proxy-0\s+web\s+shop/web:http\s+extra\s+{ProxyPodRig.BackendIp}:{rig.BackendPort}\s+ready,serving\s+-\n", output);
    }

    [Fact]
    public async Task Diff_TwoReplicas_NamesOnlyTheStaleOne()
    {
        await using var rig = await ProxyPodRig.StartAsync(TestContext.Current.CancellationToken);
        rig.Api.ApplySilently("shop", ProxyPodRig.WebSlice(rig.BackendPort, ProxyPodRig.BackendIp, "127.0.0.22"));

        // Started after the silent change: its first list has both endpoints, so only lb-proxy-0 is behind.
        await rig.AddReplicaAsync("lb-proxy-1", "127.0.0.32", TestContext.Current.CancellationToken);
        var (code, output, error) = await rig.KubectlAsync("diff", "web");

        Assert.True(code == 1, output + error);
        Assert.Matches(@"lb-proxy-0\s+web\s+shop/web:http\s+missing\s+127\.0\.0\.22:", output);
        Assert.Matches(@"lb-proxy-1\s+web\s+shop/web:http\s+none\s+-\s+2 endpoints \(current\)", output);
        Assert.DoesNotMatch(@"lb-proxy-1\s+\S+\s+\S+\s+missing", output);
        Assert.Contains("1 of 2 replicas differ from the EndpointSlices", output, StringComparison.Ordinal);

        (code, output, error) = await rig.KubectlAsync("backends", "web", "--all-pods");
        Assert.True(code == 0, error);
        Assert.Contains("POD lb-proxy-0", output, StringComparison.Ordinal);
        Assert.Contains("POD lb-proxy-1", output, StringComparison.Ordinal);

        (code, output, error) = await rig.KubectlAsync("backends", "web", "--pod", "lb-proxy-1");
        Assert.True(code == 0, error);
        Assert.DoesNotContain("POD lb-proxy-0", output, StringComparison.Ordinal);
        Assert.Contains("127.0.0.22:", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Routes_ListsEachRouteWithItsOriginAndClusters()
    {
        await using var rig = await ProxyPodRig.StartAsync(TestContext.Current.CancellationToken);

        var (code, output, error) = await rig.KubectlAsync("routes");

        Assert.True(code == 0, error);
        Assert.Matches(@"lb-proxy-0\s+web-by-config\s+config\s+-\s+web\(current, 1 usable\)", output);
        Assert.Matches(@"lb-proxy-0\s+\S+\s+Ingress shop/web@\d+\s+-\s+ingress:shop/web:http\(current, 1 usable\)", output);
    }

    [Fact]
    public async Task Freshness_ALinePerClusterAndFeed()
    {
        await using var rig = await ProxyPodRig.StartAsync(TestContext.Current.CancellationToken);

        var (code, output, error) = await rig.KubectlAsync("freshness");

        Assert.True(code == 0, error);
        Assert.Matches(@"lb-proxy-0\s+web\s+current\s+[\d.]+\s+\d{4}-\d\d-\d\dT", output);
        Assert.Matches(@"lb-proxy-0\s+\S+\s+\S+\s+yes\s+yes\s+[\d.]+\s+0\s+0", output);
    }

    [Fact]
    public async Task Kubeconfig_ContextChoosesTheServerAndTheNamespace()
    {
        await using var rig = await ProxyPodRig.StartAsync(TestContext.Current.CancellationToken);
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
            - name: elsewhere
              context: {"{"} cluster: fake, user: operator, namespace: default {"}"}
            - name: edge
              context: {"{"} cluster: fake, user: operator, namespace: edge {"}"}
            current-context: elsewhere
            """, TestContext.Current.CancellationToken);
        try
        {
            var port = rig.AdminPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var (code, output, error) = await ProxyPodRig.RunAsync("backends", "--kubeconfig", kubeconfig, "--context", "edge", "--admin-port", port);
            Assert.True(code == 0, error);
            Assert.Contains("POD lb-proxy-0", output, StringComparison.Ordinal);

            (code, _, error) = await ProxyPodRig.RunAsync("backends", "--kubeconfig", kubeconfig, "--admin-port", port);
            Assert.Equal(2, code);
            Assert.Contains("in namespace default", error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(kubeconfig);
        }
    }

    [Fact]
    public async Task Errors_ExitTwo_NamingTheProblem()
    {
        await using var rig = await ProxyPodRig.StartAsync(TestContext.Current.CancellationToken);

        var (code, _, error) = await rig.KubectlAsync("backends", "-l", "app=nothing");
        Assert.Equal(2, code);
        Assert.Contains("no running pods match -l app=nothing in namespace edge", error, StringComparison.Ordinal);

        (code, _, error) = await rig.KubectlAsync("backends", "--pod", "lb-proxy-9");
        Assert.Equal(2, code);
        Assert.Contains("404", error, StringComparison.Ordinal);

        // A pod whose admin port nothing answers: the API server's pod proxy says 503, and so does the error.
        rig.Api.Apply(LoadBalancing.Kubernetes.Tests.Support.ApiResource.Pods, LoadBalancing.Kubernetes.Tests.Support.Objects.Pod(
            "lb-proxy-dead", "edge", new Dictionary<string, string> { ["app"] = "lb-proxy" }, "127.0.0.33"));
        (code, _, error) = await rig.KubectlAsync("backends", "--pod", "lb-proxy-dead");
        Assert.Equal(2, code);
        Assert.Contains("503", error, StringComparison.Ordinal);

        // A replica that accepts the connection and never answers: the command ends at --request-timeout.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Parse("127.0.0.34"), 0);
        silent.Start();
        rig.Api.Apply(LoadBalancing.Kubernetes.Tests.Support.ApiResource.Pods, LoadBalancing.Kubernetes.Tests.Support.Objects.Pod(
            "lb-proxy-silent", "edge", new Dictionary<string, string> { ["app"] = "lb-proxy" }, "127.0.0.34"));
        var silentPort = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        (code, _, error) = await ProxyPodRig.RunAsync(
            "backends", "--pod", "lb-proxy-silent", "--api-server", rig.Api.Url, "-n", "edge", "--admin-port", silentPort, "--request-timeout", "1s");
        Assert.Equal(2, code);
        Assert.Contains("no answer within --request-timeout (1 s)", error, StringComparison.Ordinal);

        (code, _, error) = await rig.KubectlAsync("frob");
        Assert.Equal(2, code);
        Assert.Contains("unknown command 'frob'", error, StringComparison.Ordinal);
    }
}
