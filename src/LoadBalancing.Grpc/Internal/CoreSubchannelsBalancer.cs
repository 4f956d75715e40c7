using Grpc.Net.Client.Balancer;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Grpc.Internal;

/// <summary>
/// A grpc-dotnet load balancer over one core <see cref="Balancer"/>: grpc-dotnet keeps the subchannels (one per
/// resolved address), this mirrors the READY ones into a private <see cref="EndpointSource"/>, so endpoint state
/// (latency estimate, in-flight count, failures, ejection) survives every picker rebuild for as long as the subchannel stays ready.
/// </summary>
internal sealed class CoreSubchannelsBalancer : SubchannelsLoadBalancer
{
    private readonly EndpointSource _source;
    private readonly string? _hashHeader;
    private readonly TimeProvider _time;

    public CoreSubchannelsBalancer(IChannelControlHelper controller, ILoggerFactory loggerFactory, string name, BalancerOptions options, string? hashHeader, TimeProvider time)
        : base(controller, loggerFactory)
    {
        _source = new EndpointSource(name, time);
        Balancer = new Balancer(_source, options, time);
        _hashHeader = hashHeader;
        _time = time;
    }

    /// <summary>The core balancer: its source holds the ready subchannels' endpoints and their state.</summary>
    public Balancer Balancer { get; }

    protected override SubchannelPicker CreatePicker(IReadOnlyList<Subchannel> readySubchannels)
    {
        var endpoints = new List<BackendEndpoint>(readySubchannels.Count);
        var byEndpoint = new Dictionary<BackendEndpoint, Subchannel>(readySubchannels.Count);
        var hashKeys = new HashSet<string>(readySubchannels.Count, StringComparer.Ordinal);
        foreach (var subchannel in readySubchannels)
        {
            if (subchannel.CurrentAddress is not { } address)
            {
                continue;
            }

            var endpoint = ToEndpoint(address);
            // Publish rejects a list naming an endpoint or a hash key twice; a resolver that repeats an address gets one.
            if (hashKeys.Add(endpoint.HashKey) && byEndpoint.TryAdd(endpoint, subchannel))
            {
                endpoints.Add(endpoint);
            }
        }

        var set = _source.Publish(endpoints);
        var subchannels = new Dictionary<EndpointState, Subchannel>(set.Count, ReferenceEqualityComparer.Instance);
        for (var i = 0; i < set.Count; i++)
        {
            if (byEndpoint.TryGetValue(set.Endpoints[i], out var subchannel))
            {
                subchannels[set.States[i]] = subchannel;
            }
        }

        return new CorePicker(Balancer, subchannels, _hashHeader, _time);
    }

    internal static BackendEndpoint ToEndpoint(BalancerAddress address)
    {
        var weight = address.Attributes.TryGetValue(LoadBalancingAttributes.Weight, out var w) ? Math.Clamp(w, 1, BackendEndpoint.MaxWeight) : 1;
        var hashKey = address.Attributes.TryGetValue(LoadBalancingAttributes.HashKey, out var k) && !string.IsNullOrEmpty(k) ? k : null;
        return new BackendEndpoint(address.EndPoint.Host, address.EndPoint.Port, weight, hashKey: hashKey);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            Balancer.Dispose();
        }
    }
}
