using LoadBalancing.Http.Kubernetes.Internal;
using LoadBalancing.Http.Tests.Support;
using LoadBalancing.Kubernetes;
using LoadBalancing.Kubernetes.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static LoadBalancing.Kubernetes.Tests.Support.Slices;

namespace LoadBalancing.Http.Tests.Kubernetes;

/// <summary>FromKubernetes: EndpointSlices on the test API server, discovery, a real client, real backends.</summary>
public sealed class KubernetesBindingTests
{
    [Fact]
    public async Task FromKubernetes_FollowsTheServiceSlices_ASliceUpdateMovesTraffic()
    {
        await using var a = await HttpBackend.StartAsync("a", "127.0.0.1");
        await using var b = await HttpBackend.StartAsync("b", "127.0.0.2");
        await using var c = await HttpBackend.StartAsync("c", "127.0.0.3");
        await using var d = await HttpBackend.StartAsync("d", "127.0.0.4");
        await using var server = await FakeApiServer.StartAsync();
        var ns = "ns-" + Guid.NewGuid().ToString("N")[..8];
        var ct = TestContext.Current.CancellationToken;
        // One slice per pod: the backends listen on different ports, and a slice has one port list.
        foreach (var backend in new[] { a, b, c })
        {
            server.Apply(ns, Slice("payments-" + backend.Name, "payments", [new([backend.Ip])], [("http", backend.Port)]));
        }

        var options = new KubernetesDiscoveryOptions
        {
            ApiServer = server.Url,
            MinPublishInterval = TimeSpan.Zero,
            BackoffInitial = TimeSpan.FromMilliseconds(20),
            BackoffMax = TimeSpan.FromMilliseconds(200),
        };
        options.Services.Add(new ServiceReference { Namespace = ns, Name = "payments", Port = "http" });
        await using var client = TestClient.Create(null, x => x.FromKubernetes($"{ns}/payments:http"), s => s.AddKubernetesDiscovery(options));
        var discovery = client.Services.GetRequiredService<KubernetesDiscovery>();
        await discovery.StartAsync(ct).WaitAsync(TestClient.Bound, ct);
        var source = discovery.GetSource(ns, "payments", "http");
        await WhenAsync(source, set => set.Count == 3, ct);

        var answered = new HashSet<string>();
        for (var i = 0; i < 30; i++)
        {
            answered.Add(await client.WhoAnswersAsync());
        }

        Assert.Equal(["a", "b", "c"], answered.Order());

        // c's pod goes, d's comes.
        server.Delete(ns, "payments-c");
        server.Apply(ns, Slice("payments-d", "payments", [new([d.Ip])], [("http", d.Port)]));
        await WhenAsync(source, set => set.Count == 3 && set.Endpoints.Any(e => e.Port == d.Port) && set.Endpoints.All(e => e.Port != c.Port), ct);
        var before = c.Calls;
        answered.Clear();
        for (var i = 0; i < 30; i++)
        {
            answered.Add(await client.WhoAnswersAsync());
        }

        Assert.Equal(["a", "b", "d"], answered.Order());
        Assert.Equal(before, c.Calls);
        await discovery.StopAsync(ct);
    }

    [Theory]
    [InlineData("prod/payments:http", "prod", "payments", "http")]
    [InlineData("prod/payments:8080", "prod", "payments", "8080")]
    [InlineData("prod/payments", "prod", "payments", null)]
    [InlineData("k8s:///prod/payments:http", "prod", "payments", "http")]
    public void Parse_NamespaceServicePort(string value, string ns, string service, string? port) =>
        Assert.Equal((ns, service, port), KubernetesServiceName.Parse(value));

    [Theory]
    [InlineData("payments")]
    [InlineData("k8s://prod/payments")]
    [InlineData("prod/payments/extra")]
    [InlineData("prod/:http")]
    public void Parse_NotNamespaceAndService_Throws_NamingTheForm(string value)
    {
        var error = Assert.Throws<ArgumentException>(() => KubernetesServiceName.Parse(value));
        Assert.Contains("namespace/service:port", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Waits, bounded, until the source's current set satisfies <paramref name="condition"/>; woken by its publishes.</summary>
    private static async Task WhenAsync(EndpointSource source, Func<EndpointSet, bool> condition, CancellationToken ct)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = source.Subscribe(_ =>
        {
            if (condition(source.Current))
            {
                reached.TrySetResult();
            }
        });
        if (condition(source.Current))
        {
            return;
        }

        await reached.Task.WaitAsync(TestClient.Bound, ct);
    }
}
