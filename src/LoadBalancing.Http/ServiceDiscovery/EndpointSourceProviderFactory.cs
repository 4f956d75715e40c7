using System.Diagnostics.CodeAnalysis;
using LoadBalancing.Http.Internal;
using Microsoft.Extensions.ServiceDiscovery;

namespace LoadBalancing.Http.ServiceDiscovery;

/// <summary>
/// Serves the names registered with <c>AddLoadBalancing</c> or <c>AddHttpLoadBalancing</c> to
/// Microsoft.Extensions.ServiceDiscovery from their endpoint sources; other names are left to the other providers.
/// </summary>
internal sealed class EndpointSourceProviderFactory : IServiceEndpointProviderFactory
{
    private readonly HttpServiceRegistry _registry;

    public EndpointSourceProviderFactory(HttpServiceRegistry registry) => _registry = registry;

    public bool TryCreateProvider(ServiceEndpointQuery query, [NotNullWhen(true)] out IServiceEndpointProvider? provider)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (!_registry.IsRegistered(query.ServiceName))
        {
            provider = null;
            return false;
        }

        provider = new EndpointSourceProvider(_registry.Get(query.ServiceName).Source);
        return true;
    }
}
