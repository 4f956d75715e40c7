namespace LoadBalancing.Http.Internal;

/// <summary>One logical service: its balancer and the per-request settings read on the hot path.</summary>
internal sealed class HttpService : IDisposable
{
    private readonly string? _hashHeader;
    private readonly Func<HttpRequestMessage, string?>? _hashKey;
    private readonly bool _hashes;

    public HttpService(string name, Balancer balancer, HttpLoadBalancingOptions options)
    {
        Name = name;
        Balancer = balancer;
        MaxAttempts = options.MaxAttempts;
        RetryStatusCodes = options.RetryStatusCodes.Count == 0 ? null : [.. options.RetryStatusCodes];
        _hashes = options.Balancer.Algorithm is LoadBalancingAlgorithm.Maglev or LoadBalancingAlgorithm.RingHash;
        _hashHeader = options.HashHeader;
        _hashKey = options.HashKey;
    }

    public string Name { get; }

    public Balancer Balancer { get; }

    public EndpointSource Source => Balancer.Source;

    public int MaxAttempts { get; }

    /// <summary>The statuses that may be retried, or <c>null</c> for none.</summary>
    public HashSet<int>? RetryStatusCodes { get; }

    public PickContext KeyOf(HttpRequestMessage request)
    {
        if (!_hashes)
        {
            return PickContext.None;
        }

        if (_hashKey is not null)
        {
            return _hashKey(request) is { } key ? PickContext.ForHash(RequestKey.FromString(key)) : PickContext.None;
        }

        if (_hashHeader is not null && request.Headers.NonValidated.TryGetValues(_hashHeader, out var values))
        {
            foreach (var value in values)
            {
                return PickContext.ForHash(RequestKey.FromString(value));
            }
        }

        return PickContext.None;
    }

    public void Dispose() => Balancer.Dispose();
}
