using System.Text.Json;
using LoadBalancing.Proxy.Health;
using LoadBalancing.Proxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Tests.HealthChecks;

/// <summary>A real backend whose <c>/healthz</c> answers the status in <see cref="HealthStatus"/> (flipped by the test).</summary>
internal sealed class FlippableBackend : IAsyncDisposable
{
    private TestBackend _backend = null!;
    private volatile int _healthStatus = 200;

    public int HealthStatus
    {
        get => _healthStatus;
        set => _healthStatus = value;
    }

    /// <summary>When set, a probe waits for it before answering (so a test can hold a probe in flight).</summary>
    public TaskCompletionSource? HealthGate { get; set; }

    /// <summary>Completes when a probe is waiting at <see cref="HealthGate"/>.</summary>
    public TaskCompletionSource ProbeWaiting { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Address => _backend.Address;

    public string Name => _backend.Name;

    /// <summary>Probes received (requests for /healthz).</summary>
    public int Probes => _backend.Requests.Count(r => r.Target == "/healthz");

    /// <summary>Requests other than probes: the traffic the proxy forwarded.</summary>
    public int Forwarded => _backend.Requests.Count(r => r.Target != "/healthz");

    public IEnumerable<SeenRequest> ProbeRequests => _backend.Requests.Where(r => r.Target == "/healthz");

    public static async Task<FlippableBackend> StartAsync(string name, string ip)
    {
        var self = new FlippableBackend();
        self._backend = await TestBackend.StartAsync(name, ip, async context =>
        {
            if (context.Request.Path == "/healthz")
            {
                if (self.HealthGate is { } gate)
                {
                    self.ProbeWaiting.TrySetResult();
                    await gate.Task.WaitAsync(TimeSpan.FromSeconds(20));
                }

                context.Response.StatusCode = self.HealthStatus;
                return;
            }

            await context.Response.WriteAsync(name);
        });
        return self;
    }

    public ValueTask DisposeAsync() => _backend.DisposeAsync();
}

/// <summary>Waits, without sleeping, until the proxy's probers have finished a number of probes.</summary>
internal sealed class ProbeWaiter : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly HealthProberRegistry _registry;
    private TaskCompletionSource _signal = NewSignal();

    public ProbeWaiter(HealthProberRegistry registry)
    {
        _registry = registry;
        _registry.Probed += OnProbed;
    }

    public long Completed => _registry.ProbesCompleted;

    /// <summary>Returns once <paramref name="total"/> probes have finished since the proxy started (at most 20 s).</summary>
    public async Task UntilAsync(long total)
    {
        using var bound = new CancellationTokenSource(Bound);
        while (true)
        {
            var signal = Volatile.Read(ref _signal);
            if (_registry.ProbesCompleted >= total)
            {
                return;
            }

            await signal.Task.WaitAsync(bound.Token);
        }
    }

    private void OnProbed(HealthProber prober, ProbeResult result) => Interlocked.Exchange(ref _signal, NewSignal()).TrySetResult();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Dispose() => _registry.Probed -= OnProbed;
}

internal static class HealthRig
{
    public static HealthCheckOptions Http(int unhealthy = 3, int healthy = 2) => new()
    {
        Path = "/healthz",
        Interval = TimeSpan.FromSeconds(10),
        Jitter = TimeSpan.Zero,
        UnhealthyThreshold = unhealthy,
        HealthyThreshold = healthy,
    };

    /// <summary>Sends <paramref name="count"/> requests through the proxy, each on its own connection, all answered 200.</summary>
    public static async Task SendAsync(TestProxy proxy, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var response = await proxy.Client.GetAsync("/", TestContext.Current.CancellationToken);
            response.EnsureSuccessStatusCode();
        }
    }

    /// <summary>The <c>health</c> object of an endpoint in /backends, or null when it has none.</summary>
    public static async Task<JsonElement?> HealthAsync(TestProxy proxy, string cluster, string address)
    {
        var json = await proxy.Admin.GetStringAsync("backends", TestContext.Current.CancellationToken);
        using var document = JsonDocument.Parse(json);
        foreach (var c in document.RootElement.GetProperty("clusters").EnumerateArray())
        {
            if (c.GetProperty("name").GetString() != cluster)
            {
                continue;
            }

            foreach (var endpoint in c.GetProperty("endpoints").EnumerateArray())
            {
                if ($"{endpoint.GetProperty("address").GetString()}:{endpoint.GetProperty("port").GetInt32()}" == address)
                {
                    return endpoint.TryGetProperty("health", out var health) ? health.Clone() : null;
                }
            }
        }

        throw new InvalidOperationException($"{cluster}/{address} is not in /backends");
    }
}
