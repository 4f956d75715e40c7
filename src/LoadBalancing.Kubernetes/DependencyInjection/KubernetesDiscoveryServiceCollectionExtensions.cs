using LoadBalancing.Kubernetes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Kubernetes discovery.</summary>
public static class KubernetesDiscoveryServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="KubernetesDiscovery"/> (a hosted service) and its health checks (<c>kubernetes-discovery</c>, tag
    /// <c>ready</c>, and <c>kubernetes-discovery-liveness</c>, tag <c>live</c>)
    /// from a configuration section, normally <c>Kubernetes</c>. Unknown keys and bad values fail here, every one named by its key.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="section">The configuration section.</param>
    /// <returns>The validated options.</returns>
    public static KubernetesDiscoveryOptions AddKubernetesDiscovery(this IServiceCollection services, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        // Options built in code may start empty and follow Services as GetSource asks for them; a section that names
        // nothing to discover is a configuration mistake.
        if (!KubernetesDiscoveryOptionsValidation.TryLoad(section, complete: null, out var options, out var errors)
            | (options.Services.Count == 0 && options.Namespaces.Count == 0 && errors.Count == 0))
        {
            var prefix = section is IConfigurationSection named ? named.Path : KubernetesDiscoveryOptionsValidation.SectionName;
            errors = errors.Count > 0 ? errors : [$"{prefix}:Services: name at least one Service (or a namespace under {prefix}:Namespaces)."];
            throw new ArgumentException("Invalid Kubernetes discovery configuration:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", errors), nameof(section));
        }

        services.AddKubernetesDiscovery(options);
        return options;
    }

    /// <summary>Registers <see cref="KubernetesDiscovery"/> (a hosted service) and its health checks with options built in code.</summary>
    /// <param name="services">The services.</param>
    /// <param name="options">The options (validated now).</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddKubernetesDiscovery(this IServiceCollection services, KubernetesDiscoveryOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        KubernetesDiscoveryOptionsValidation.Validate(options);
        services.AddMetrics();
        services.AddSingleton(sp => new KubernetesDiscovery(options, client: null, sp.GetService<TimeProvider>(), sp.GetService<ILoggerFactory>(), sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<KubernetesDiscovery>());
        services.AddHealthChecks()
            .AddCheck<KubernetesDiscoveryHealthCheck>("kubernetes-discovery", failureStatus: HealthStatus.Unhealthy, tags: ["ready"])
            .AddCheck<KubernetesDiscoveryLivenessCheck>("kubernetes-discovery-liveness", failureStatus: HealthStatus.Unhealthy, tags: ["live"]);
        return services;
    }
}
