using Grpc.Net.Client.Balancer;

namespace LoadBalancing.Grpc.Internal;

/// <summary>Creates <see cref="CoreSubchannelsBalancer"/>s for one policy name.</summary>
internal sealed class CoreLoadBalancerFactory : LoadBalancerFactory
{
    private readonly LoadBalancingAlgorithm _algorithm;
    private readonly Action<BalancerOptions>? _configure;
    private readonly TimeProvider _time;

    public CoreLoadBalancerFactory(string name, LoadBalancingAlgorithm algorithm, Action<BalancerOptions>? configure, TimeProvider time)
    {
        Name = name;
        _algorithm = algorithm;
        _configure = configure;
        _time = time;
    }

    public override string Name { get; }

    /// <summary>Raised for every balancer created (for tests, which read the core balancer's endpoint state).</summary>
    internal event Action<CoreSubchannelsBalancer>? Created;

    public override LoadBalancer Create(LoadBalancerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var settings = options.Configuration;
        var balancerOptions = new BalancerOptions();
        _configure?.Invoke(balancerOptions);
        balancerOptions.Algorithm = _algorithm;
        // A fallback endpoint is not a subchannel of this channel, so nothing could send a call to it.
        balancerOptions.Fallback = null;
        if (PolicySettings.GetInt(settings, PolicySettings.ChoiceCount) is { } choices)
        {
            balancerOptions.LeastRequest.ChoiceCount = choices;
        }

        balancerOptions.Validate();
        var hashHeader = _algorithm is LoadBalancingAlgorithm.Maglev or LoadBalancingAlgorithm.RingHash
            ? PolicySettings.GetString(settings, PolicySettings.HashKey) is { Length: > 0 } header ? header.ToLowerInvariant() : null
            : null;
        var balancer = new CoreSubchannelsBalancer(options.Controller, options.LoggerFactory, Name, balancerOptions, hashHeader, _time);
        Created?.Invoke(balancer);
        return balancer;
    }
}
