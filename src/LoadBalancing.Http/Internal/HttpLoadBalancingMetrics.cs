using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace LoadBalancing.Http.Internal;

/// <summary>
/// The instruments of the <c>LoadBalancing.Http</c> meter, created from the application's <see cref="IMeterFactory"/>
/// so that OpenTelemetry (<c>AddMeter("LoadBalancing.Http")</c>) sees them. Requests per endpoint are already in
/// HttpClient's own <c>http.client.request.duration</c> (its <c>server.address</c> is the endpoint picked); these add
/// what only the balancing handler knows: how attempts ended, why requests were retried, requests that found no
/// endpoint, and each service's endpoints by state.
/// </summary>
internal sealed class HttpLoadBalancingMetrics
{
    public const string MeterName = "LoadBalancing.Http";

    private readonly Counter<long> _attempts;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _noEndpoint;

    public HttpLoadBalancingMetrics(IMeterFactory factory, Func<IEnumerable<HttpService>> services)
    {
        var meter = factory.Create(MeterName);
        _attempts = meter.CreateCounter<long>("lb.http.attempts", "{attempt}",
            "Attempts sent to an endpoint, by service and outcome: success, failure (a status counted as a failure), error (the send threw).");
        _retries = meter.CreateCounter<long>("lb.http.retries", "{retry}",
            "Requests sent again to another endpoint, by service and reason: connect_failure, error, status.");
        _noEndpoint = meter.CreateCounter<long>("lb.http.no_endpoint", "{request}",
            "Requests that failed because the service had no endpoint to pick.");
        meter.CreateObservableGauge("lb.http.endpoints", () => Endpoints(services()), "{endpoint}",
            "Each service's endpoints by state: usable (picked from), ejected (by outlier detection), total.");
    }

    public void Attempt(string service, string outcome) =>
        _attempts.Add(1, new TagList { { "service", service }, { "outcome", outcome } });

    public void Retry(string service, string reason) =>
        _retries.Add(1, new TagList { { "service", service }, { "reason", reason } });

    public void NoEndpoint(string service) => _noEndpoint.Add(1, new KeyValuePair<string, object?>("service", service));

    private static IEnumerable<Measurement<int>> Endpoints(IEnumerable<HttpService> services)
    {
        foreach (var service in services)
        {
            var status = service.Balancer.Status;
            yield return new Measurement<int>(status.UsableEndpoints, new("service", service.Name), new("state", "usable"));
            yield return new Measurement<int>(status.EjectedEndpoints, new("service", service.Name), new("state", "ejected"));
            yield return new Measurement<int>(status.TotalEndpoints, new("service", service.Name), new("state", "total"));
        }
    }
}
