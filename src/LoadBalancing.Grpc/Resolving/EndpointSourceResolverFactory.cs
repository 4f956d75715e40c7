using Grpc.Net.Client.Balancer;
using LoadBalancing.Grpc.Internal;

namespace LoadBalancing.Grpc;

/// <summary>
/// Resolves a channel target of one scheme to an <see cref="EndpointSource"/>'s ready endpoints, updated on every
/// change of the source. Until the source has first been published to (or confirmed), the channel gets an
/// UNAVAILABLE error result rather than an empty list. Endpoint weights and explicit hash keys travel as
/// <see cref="LoadBalancingAttributes"/>.
/// </summary>
public sealed class EndpointSourceResolverFactory : ResolverFactory
{
    private readonly Func<Uri, EndpointSource> _sourceFor;
    private readonly TimeProvider _time;

    /// <summary>Creates the factory.</summary>
    /// <param name="scheme">The target scheme it resolves, for example <c>lb</c> for <c>lb:///orders</c>.</param>
    /// <param name="sourceFor">The source for a channel's target address; called once per channel.</param>
    /// <param name="timeProvider">The clock for re-checking a source that has not synced yet; the system clock by default.</param>
    public EndpointSourceResolverFactory(string scheme, Func<Uri, EndpointSource> sourceFor, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(scheme);
        ArgumentNullException.ThrowIfNull(sourceFor);
        Name = scheme;
        _sourceFor = sourceFor;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The scheme.</summary>
    public override string Name { get; }

    /// <summary>Creates the resolver for a channel.</summary>
    /// <param name="options">The channel's target and logger factory.</param>
    /// <returns>The resolver.</returns>
    public override Resolver Create(ResolverOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new EndpointSourceResolver(_sourceFor(options.Address), _time, options.LoggerFactory);
    }
}
