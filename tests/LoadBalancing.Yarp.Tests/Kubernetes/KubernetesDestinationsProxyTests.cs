using System.Globalization;
using System.Net;
using LoadBalancing.Kubernetes.Tests.Support;
using LoadBalancing.Yarp.Kubernetes;
using LoadBalancing.Yarp.Tests.Support;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace LoadBalancing.Yarp.Tests.Kubernetes;

/// <summary>
/// k8s:/// destinations through a real YARP proxy: EndpointSlices on the test API server point at real Kestrel backends
/// on 127.0.0.x, Kubernetes discovery follows them, and YARP sends requests where they say.
/// </summary>
public sealed class KubernetesDestinationsProxyTests
{
    [Fact(Timeout = 60_000)]
    public async Task K8sDestination_ThreePods_RequestsReachEveryPod()
    {
        await using var backends = await Backends.StartAsync(3);
        await using var server = await FakeApiServer.StartAsync();
        var ns = Namespace();
        foreach (var backend in backends.All)
        {
            server.Apply(ns, KubernetesYarpProxy.PodSlice(backend, zone: "zone-" + backend.Name));
        }

        await using var proxy = await KubernetesYarpProxy.StartAsync(server, KubernetesYarpProxy.Cluster($"k8s:///{ns}/web:http", LoadBalancingPolicyNames.RoundRobin));
        var destinations = await proxy.WaitForPodsAsync(backends.All);

        var answered = await proxy.WhoAnswersAsync(30);
        Assert.Equal(["b0", "b1", "b2"], answered.Distinct().Order());
        var b1 = destinations.Single(d => d.Model.Config.Address == $"http://{backends.All[1].Address}/");
        Assert.Equal($"web[{backends.All[1].Address}]", b1.DestinationId);
        var metadata = b1.Model.Config.Metadata!;
        Assert.Equal($"{ns}/web:http", metadata[KubernetesDestinationMetadataKeys.Service]);
        Assert.Equal("zone-b1", metadata[KubernetesDestinationMetadataKeys.Zone]);
        Assert.Equal("true", metadata[KubernetesDestinationMetadataKeys.Ready]);
        Assert.Equal("true", metadata[KubernetesDestinationMetadataKeys.Serving]);
        Assert.Equal("false", metadata[KubernetesDestinationMetadataKeys.Terminating]);
        Assert.Equal("1", metadata[LoadBalancingMetadataKeys.Weight]);
    }

    [Fact(Timeout = 60_000)]
    public async Task K8sDestination_HostStarted_ClusterAlreadyHasThePods()
    {
        await using var backends = await Backends.StartAsync(2);
        await using var server = await FakeApiServer.StartAsync();
        var ns = Namespace();
        foreach (var backend in backends.All)
        {
            server.Apply(ns, KubernetesYarpProxy.PodSlice(backend));
        }

        await using var proxy = await KubernetesYarpProxy.StartAsync(server, KubernetesYarpProxy.Cluster($"k8s:///{ns}/web:http"));

        // No wait: YARP loaded its configuration before discovery listed anything, and start-up waited for the reload.
        Assert.Equal(2, proxy.Destinations().Count);
        Assert.Equal(HttpStatusCode.OK, (await proxy.GetAsync("/c/x")).Status);
    }

    [Fact(Timeout = 60_000)]
    public async Task K8sDestination_SliceUpdates_MoveTrafficWithoutRestart()
    {
        await using var backends = await Backends.StartAsync(3);
        var (b0, b1, b2) = (backends.All[0], backends.All[1], backends.All[2]);
        await using var server = await FakeApiServer.StartAsync();
        var ns = Namespace();
        server.Apply(ns, KubernetesYarpProxy.PodSlice(b0));
        server.Apply(ns, KubernetesYarpProxy.PodSlice(b1));
        await using var proxy = await KubernetesYarpProxy.StartAsync(server, KubernetesYarpProxy.Cluster($"k8s:///{ns}/web:http", LoadBalancingPolicyNames.RoundRobin));
        await proxy.WaitForPodsAsync(b0, b1);
        Assert.Equal(["b0", "b1"], (await proxy.WhoAnswersAsync(20)).Distinct().Order());

        // A pod is added.
        server.Apply(ns, KubernetesYarpProxy.PodSlice(b2));
        await proxy.WaitForPodsAsync(b0, b1, b2);
        Assert.Equal(["b0", "b1", "b2"], (await proxy.WhoAnswersAsync(30)).Distinct().Order());

        // A pod is removed: it gets nothing from then on.
        server.Delete(ns, "web-b0");
        await proxy.WaitForPodsAsync(b1, b2);
        var before = b0.Requests.Count;
        Assert.Equal(["b1", "b2"], (await proxy.WhoAnswersAsync(30)).Distinct().Order());
        Assert.Equal(before, b0.Requests.Count);
    }

    [Fact(Timeout = 60_000)]
    public async Task K8sDestination_NotReadyPods_GetNoTraffic_TerminatingServeOnlyWhenNoneIsReady()
    {
        await using var backends = await Backends.StartAsync(3);
        var (b0, b1, b2) = (backends.All[0], backends.All[1], backends.All[2]);
        await using var server = await FakeApiServer.StartAsync();
        var ns = Namespace();
        server.Apply(ns, KubernetesYarpProxy.PodSlice(b0));
        server.Apply(ns, KubernetesYarpProxy.PodSlice(b1, ready: false, serving: false));
        server.Apply(ns, KubernetesYarpProxy.PodSlice(b2, ready: false, serving: true, terminating: true));
        await using var proxy = await KubernetesYarpProxy.StartAsync(server, KubernetesYarpProxy.Cluster($"k8s:///{ns}/web:http"));
        await proxy.WaitForPodsAsync(b0);

        Assert.Equal(["b0"], (await proxy.WhoAnswersAsync(20)).Distinct());
        Assert.Empty(b1.Requests);
        Assert.Empty(b2.Requests);

        // No pod is ready: the serving (terminating) one takes the traffic, the one neither ready nor serving still none.
        server.Apply(ns, KubernetesYarpProxy.PodSlice(b0, ready: false, serving: false));
        var destinations = await proxy.WaitForPodsAsync(b2);
        Assert.Equal("true", destinations[0].Model.Config.Metadata![KubernetesDestinationMetadataKeys.Terminating]);
        Assert.Equal("false", destinations[0].Model.Config.Metadata![KubernetesDestinationMetadataKeys.Ready]);
        Assert.Equal(["b2"], (await proxy.WhoAnswersAsync(20)).Distinct());
        Assert.Empty(b1.Requests);
    }

    [Fact(Timeout = 60_000)]
    public async Task K8sDestination_ApiServerGone_LastKnownPodsKeepServing_AndReadinessSaysStale()
    {
        await using var backends = await Backends.StartAsync(3);
        await using var server = await FakeApiServer.StartAsync();
        var ns = Namespace();
        foreach (var backend in backends.All)
        {
            server.Apply(ns, KubernetesYarpProxy.PodSlice(backend));
        }

        await using var proxy = await KubernetesYarpProxy.StartAsync(server, KubernetesYarpProxy.Cluster($"k8s:///{ns}/web:http", LoadBalancingPolicyNames.RoundRobin));
        await proxy.WaitForPodsAsync(backends.All);
        await proxy.WaitForHealthAsync(HealthStatus.Healthy);

        // Every request is refused and the open watches are cut: an API server that has gone away.
        server.Down = true;
        server.DropActiveWatches();
        var report = await proxy.WaitForHealthAsync(HealthStatus.Degraded);

        Assert.Contains("cannot be reached", report.Entries["kubernetes-discovery"].Description, StringComparison.Ordinal);
        Assert.Equal(3, proxy.Destinations().Count);
        Assert.Equal(["b0", "b1", "b2"], (await proxy.WhoAnswersAsync(30)).Distinct().Order());

        // Back again: the view is current, and still the same pods.
        server.Down = false;
        await proxy.WaitForHealthAsync(HealthStatus.Healthy);
        Assert.Equal(3, proxy.Destinations().Count);
    }

    [Fact(Timeout = 90_000)]
    public async Task K8sDestination_MaglevPolicy_KeepsKeysOnTheirPod_AndMovesOnlyTheRemovedPodsKeys()
    {
        await using var backends = await Backends.StartAsync(3);
        await using var server = await FakeApiServer.StartAsync();
        var ns = Namespace();
        foreach (var backend in backends.All)
        {
            server.Apply(ns, KubernetesYarpProxy.PodSlice(backend));
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [LoadBalancingMetadataKeys.HashKey] = "header:X-User" };
        await using var proxy = await KubernetesYarpProxy.StartAsync(server, KubernetesYarpProxy.Cluster($"k8s:///{ns}/web:http", LoadBalancingPolicyNames.Maglev, metadata));
        await proxy.WaitForPodsAsync(backends.All);

        const int Keys = 150;
        var before = await OwnersAsync(proxy, Keys);
        Assert.Equal(before, await OwnersAsync(proxy, Keys));
        Assert.Equal(["b0", "b1", "b2"], before.Distinct().Order());

        server.Delete(ns, "web-b2");
        await proxy.WaitForPodsAsync(backends.All[0], backends.All[1]);
        var after = await OwnersAsync(proxy, Keys);

        Assert.DoesNotContain("b2", after);
        var stayed = Enumerable.Range(0, Keys).Where(k => before[k] != "b2").ToArray();
        var kept = stayed.Count(k => after[k] == before[k]);
        Assert.True(kept >= stayed.Length * 9 / 10, $"{kept} of {stayed.Length} keys of the remaining pods stayed where they were");
    }

    private static string Namespace() => "ns-" + Guid.NewGuid().ToString("N")[..8];

    private static async Task<string[]> OwnersAsync(KubernetesYarpProxy proxy, int keys)
    {
        var owners = new string[keys];
        for (var k = 0; k < keys; k++)
        {
            var (status, body) = await proxy.GetAsync("/c/x", "X-User", "key-" + k.ToString(CultureInfo.InvariantCulture));
            Assert.Equal(HttpStatusCode.OK, status);
            owners[k] = body;
        }

        return owners;
    }
}
