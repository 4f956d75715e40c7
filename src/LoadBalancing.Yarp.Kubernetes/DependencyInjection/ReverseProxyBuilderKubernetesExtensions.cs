using LoadBalancing.Kubernetes;
using LoadBalancing.Yarp.Kubernetes;
using LoadBalancing.Yarp.Kubernetes.Resolving;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.ServiceDiscovery;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Kubernetes EndpointSlice discovery as YARP's destination resolver.</summary>
public static class ReverseProxyBuilderKubernetesExtensions
{
    // YARP's default resolver is internal; YARP itself skips resolution while it is the one registered.
    private const string NoOpResolver = "Yarp.ReverseProxy.ServiceDiscovery.NoOpDestinationResolver";

    /// <summary>
    /// Makes every cluster destination whose address is <c>k8s:///namespace/service[:port][/path]</c> (HTTPS:
    /// <c>k8s+https:///…</c>, see <see cref="KubernetesDestinationAddress"/>) stand for the Service's pods: one
    /// destination per endpoint that takes traffic, from the <see cref="KubernetesDiscovery"/> in the container (register
    /// it with <c>AddKubernetesDiscovery</c>, which also registers its readiness and liveness health checks). YARP
    /// reconfigures the cluster whenever those endpoints change. Other destinations go to the destination resolver
    /// registered before this call (for example YARP's DNS resolver), or pass unchanged.
    /// </summary>
    /// <param name="builder">YARP's builder.</param>
    /// <returns>The same builder.</returns>
    public static IReverseProxyBuilder AddKubernetesDestinations(this IReverseProxyBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        if (services.Any(d => d.ServiceType == typeof(KubernetesDestinationsMarker)))
        {
            return builder;
        }

        services.AddSingleton<KubernetesDestinationsMarker>();

        // The resolver registered before (YARP's DNS resolver, a custom one) keeps the destinations that are not ours;
        // the registrations it won over were never used, and go too.
        var previous = services.Where(d => d.ServiceType == typeof(IDestinationResolver) && !d.IsKeyedService).ToArray();
        var inner = previous.Length == 0 || previous[^1].ImplementationType?.FullName == NoOpResolver ? null : previous[^1];
        foreach (var descriptor in previous)
        {
            services.Remove(descriptor);
        }

        services.AddSingleton(sp => new KubernetesDestinationResolver(
            sp.GetRequiredService<KubernetesDiscovery>(),
            inner is null ? null : CreateInner(sp, inner),
            sp.GetService<ILogger<KubernetesDestinationResolver>>()));
        services.AddSingleton<IDestinationResolver>(sp => sp.GetRequiredService<KubernetesDestinationResolver>());
        services.AddSingleton<IConfigChangeListener>(sp => new KubernetesDestinationsConfigListener(sp.GetRequiredService<KubernetesDestinationResolver>()));

        // After discovery's own start (registered before this call), which waits for its first lists.
        services.TryAddSingleton(TimeProvider.System);
        services.AddHostedService(sp => new KubernetesDestinationsStartup(
            sp.GetRequiredService<KubernetesDestinationResolver>(), sp.GetRequiredService<TimeProvider>(), sp.GetService<ILogger<KubernetesDestinationsStartup>>()));
        return builder;
    }

    /// <summary>
    /// Registers <see cref="KubernetesDiscovery"/> (a hosted service, with its health checks <c>kubernetes-discovery</c>,
    /// tag <c>ready</c>, and <c>kubernetes-discovery-liveness</c>, tag <c>live</c>) from a configuration section, normally
    /// <c>Kubernetes</c>, and then does what <see cref="AddKubernetesDestinations(IReverseProxyBuilder)"/> does. The section
    /// need not name any Service: each one a destination names is followed from the first resolution on.
    /// </summary>
    /// <param name="builder">YARP's builder.</param>
    /// <param name="section">The discovery's configuration section (API server, kubeconfig, timings; in-cluster by default).</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="ArgumentException">The section has unknown keys or bad values; the message names each key.</exception>
    /// <exception cref="InvalidOperationException">Kubernetes discovery is registered already; call the overload without a section.</exception>
    public static IReverseProxyBuilder AddKubernetesDestinations(this IReverseProxyBuilder builder, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(section);
        if (builder.Services.Any(d => d.ServiceType == typeof(KubernetesDiscovery)))
        {
            throw new InvalidOperationException("Kubernetes discovery is registered already (AddKubernetesDiscovery): call AddKubernetesDestinations() without a section to use it.");
        }

        if (!KubernetesDiscoveryOptionsValidation.TryLoad(section, complete: null, out var options, out var errors))
        {
            throw new ArgumentException("Invalid Kubernetes discovery configuration:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", errors), nameof(section));
        }

        builder.Services.AddKubernetesDiscovery(options);
        return builder.AddKubernetesDestinations();
    }

    private static IDestinationResolver CreateInner(IServiceProvider services, ServiceDescriptor descriptor) =>
        (IDestinationResolver)(descriptor.ImplementationInstance
            ?? descriptor.ImplementationFactory?.Invoke(services)
            ?? ActivatorUtilities.CreateInstance(services, descriptor.ImplementationType!));

    /// <summary>Makes a second registration a no-op.</summary>
    private sealed class KubernetesDestinationsMarker;
}
