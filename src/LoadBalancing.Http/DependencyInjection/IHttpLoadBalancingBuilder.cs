namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Chooses where a load-balanced HTTP service's endpoints come from (<c>FromEndpoints</c>, <c>FromSource</c>, <c>FromKubernetes</c>).</summary>
public interface IHttpLoadBalancingBuilder
{
    /// <summary>The services.</summary>
    IServiceCollection Services { get; }

    /// <summary>The logical service name: the host of the requests that are balanced, and the service-discovery name.</summary>
    string ServiceName { get; }
}
