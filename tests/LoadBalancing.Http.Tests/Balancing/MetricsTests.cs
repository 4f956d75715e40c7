using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using LoadBalancing.Http.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancing.Http.Tests.Balancing;

/// <summary>
/// The <c>LoadBalancing.Http</c> meter, as an application's listener (OpenTelemetry, say) sees it through the container's
/// <see cref="IMeterFactory"/>: attempts by outcome, retries by reason, requests with no endpoint, endpoints by state.
/// </summary>
public sealed class MetricsTests
{
    [Fact]
    public async Task AttemptsRetriesAndEndpoints_AreCounted_ByServiceAndReason()
    {
        await using var a = await HttpBackend.StartAsync("a", "127.0.0.1");
        using var down = new DownBackend("127.0.0.4");
        await using var client = TestClient.Create(
            o =>
            {
                o.Balancer.Algorithm = LoadBalancingAlgorithm.Maglev;
                o.HashHeader = "x-user";
            },
            b => b.FromEndpoints(down.Endpoint, a.Endpoint));
        using var metrics = new Recorder(client.Services.GetRequiredService<IMeterFactory>());

        // One request to the down endpoint: an error attempt, a connect-failure retry, a success on a.
        using (var response = await client.SendAsync(HttpMethod.Get, client.KeyFor(down.Endpoint)))
        {
            Assert.Equal("a", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }

        // One straight to a.
        using (var response = await client.SendAsync(HttpMethod.Get, client.KeyFor(a.Endpoint)))
        {
            response.EnsureSuccessStatusCode();
        }

        Assert.Equal(1, metrics.Sum("lb.http.attempts", ("service", TestClient.Service), ("outcome", "error")));
        Assert.Equal(2, metrics.Sum("lb.http.attempts", ("service", TestClient.Service), ("outcome", "success")));
        Assert.Equal(1, metrics.Sum("lb.http.retries", ("service", TestClient.Service), ("reason", "connect_failure")));
        Assert.Equal(0, metrics.Sum("lb.http.no_endpoint"));

        metrics.Observe();
        Assert.Equal(2, metrics.Last("lb.http.endpoints", ("service", TestClient.Service), ("state", "total")));
        Assert.Equal(2, metrics.Last("lb.http.endpoints", ("service", TestClient.Service), ("state", "usable")));
        Assert.Equal(0, metrics.Last("lb.http.endpoints", ("service", TestClient.Service), ("state", "ejected")));
    }

    [Fact]
    public async Task NoEndpoint_IsCounted()
    {
        var source = new EndpointSource(TestClient.Service);
        source.Publish([]);
        await using var client = TestClient.Create(null, b => b.FromSource(source));
        using var metrics = new Recorder(client.Services.GetRequiredService<IMeterFactory>());

        await Assert.ThrowsAsync<HttpRequestException>(() => client.WhoAnswersAsync());

        Assert.Equal(1, metrics.Sum("lb.http.no_endpoint", ("service", TestClient.Service)));
        Assert.Equal(0, metrics.Sum("lb.http.attempts"));
    }

    /// <summary>Listens to the instruments of one meter factory (one container), as an exporter would.</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<(string Name, long Value, KeyValuePair<string, object?>[] Tags)> _measurements = new();

        public Recorder(IMeterFactory factory)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Scope == factory && instrument.Meter.Name == "LoadBalancing.Http")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => _measurements.Enqueue((instrument.Name, value, tags.ToArray())));
            _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => _measurements.Enqueue((instrument.Name, value, tags.ToArray())));
            _listener.Start();
        }

        public void Observe() => _listener.RecordObservableInstruments();

        public long Sum(string name, params (string Key, string Value)[] tags) =>
            Matching(name, tags).Sum(m => m.Value);

        public long Last(string name, params (string Key, string Value)[] tags) =>
            Matching(name, tags).Last().Value;

        private IEnumerable<(string Name, long Value, KeyValuePair<string, object?>[] Tags)> Matching(string name, (string Key, string Value)[] tags) =>
            _measurements.Where(m => m.Name == name && tags.All(t => m.Tags.Any(kv => kv.Key == t.Key && Equals(kv.Value, t.Value))));

        public void Dispose() => _listener.Dispose();
    }
}
