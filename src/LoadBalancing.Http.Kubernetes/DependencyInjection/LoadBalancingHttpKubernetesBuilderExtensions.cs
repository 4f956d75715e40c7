using LoadBalancing.Http.Kubernetes.Internal;
using LoadBalancing.Kubernetes;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Feeds a load-balanced HTTP service from a Kubernetes Service's EndpointSlices.</summary>
public static class LoadBalancingHttpKubernetesBuilderExtensions
{
    /// <summary>
    /// Takes the service's endpoints from the <see cref="KubernetesDiscovery"/> in the container (register it with
    /// <c>AddKubernetesDiscovery</c>): the ready pods of a Kubernetes Service, never its Service IP, following every
    /// change of the confirmed EndpointSlice view. A Service that discovery does not follow yet is followed from the
    /// service's first request on; until discovery has listed it, requests fail with "not known yet".
    /// </summary>
    /// <param name="builder">The service's builder.</param>
    /// <param name="service">
    /// <c>namespace/service</c> or <c>namespace/service:port</c> (port by name or number; without it, the Service's only
    /// port), or the same as a gRPC target, <c>k8s:///namespace/service[:port]</c>.
    /// </param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException"><paramref name="service"/> is not in one of those forms.</exception>
    public static IHttpLoadBalancingBuilder FromKubernetes(this IHttpLoadBalancingBuilder builder, string service)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var (ns, name, port) = KubernetesServiceName.Parse(service);
        return builder.FromSource(sp => sp.GetRequiredService<KubernetesDiscovery>().GetSource(ns, name, port));
    }
}
