namespace LoadBalancing.Http;

/// <summary>
/// How the requests to one logical service (the host of <c>http://payments/...</c>) are balanced: the core balancer's
/// options, the hash key, and the retry rules. Named by the service; every client balancing the same service shares
/// these options and one balancer.
/// </summary>
public sealed class HttpLoadBalancingOptions
{
    /// <summary>The largest <see cref="MaxAttempts"/> accepted.</summary>
    public const int MaxAttemptsLimit = 10;

    /// <summary>The core balancer's options: the algorithm (round-robin by default), peak-EWMA, least-request, outlier detection, slow start, ...</summary>
    public BalancerOptions Balancer { get; set; } = new();

    /// <summary>
    /// The request header whose first value is hashed by maglev and ring-hash (with <see cref="RequestKey.FromString"/>);
    /// a request without it goes to a random endpoint. Set this or <see cref="HashKey"/>, not both.
    /// </summary>
    public string? HashHeader { get; set; }

    /// <summary>
    /// Gives a request's hash key for maglev and ring-hash; <c>null</c> sends the request to a random endpoint. Called
    /// once per request, on the request's thread. Set this or <see cref="HashHeader"/>, not both.
    /// </summary>
    public Func<HttpRequestMessage, string?>? HashKey { get; set; }

    /// <summary>
    /// The most attempts one request makes, the first included: 2 by default (one retry), 1 for none, at most
    /// <see cref="MaxAttemptsLimit"/>. Each retry goes to an endpoint the request has not tried yet.
    /// </summary>
    public int MaxAttempts { get; set; } = 2;

    /// <summary>
    /// Response statuses that make an idempotent request with replayable content try another endpoint (for example
    /// 502, 503 and 504); none by default. A response with one of these statuses is still the answer when no attempt
    /// is left or no other endpoint is usable.
    /// </summary>
    public ISet<int> RetryStatusCodes { get; } = new HashSet<int>();

    /// <summary>Where the endpoints come from; set by <c>FromEndpoints</c>, <c>FromSource</c> or <c>FromKubernetes</c>.</summary>
    internal Func<IServiceProvider, EndpointSource>? SourceFactory { get; set; }

    /// <summary>The problems of these options, each naming the key; empty when they are valid.</summary>
    /// <returns>The problems.</returns>
    public IReadOnlyList<string> GetValidationErrors()
    {
        var errors = new List<string>();
        if (Balancer is null)
        {
            errors.Add("Balancer must be set.");
        }
        else
        {
            foreach (var error in Balancer.GetValidationErrors())
            {
                errors.Add("Balancer." + error);
            }
        }

        if (MaxAttempts is < 1 or > MaxAttemptsLimit)
        {
            errors.Add($"MaxAttempts must be 1 to {MaxAttemptsLimit}; got {MaxAttempts}.");
        }

        if (HashHeader is not null && HashKey is not null)
        {
            errors.Add("HashHeader and HashKey are both set; set one.");
        }

        if (HashHeader is { } header && string.IsNullOrWhiteSpace(header))
        {
            errors.Add("HashHeader must not be empty.");
        }

        foreach (var status in RetryStatusCodes)
        {
            if (status is < 100 or > 599)
            {
                errors.Add($"RetryStatusCodes: {status} is not an HTTP status (100 to 599).");
            }
        }

        if (SourceFactory is null)
        {
            errors.Add("No endpoint source: call FromEndpoints, FromSource or FromKubernetes on the builder AddLoadBalancing returns.");
        }

        return errors;
    }
}
