using LoadBalancing.Kubernetes;
using Microsoft.Extensions.Configuration;

namespace LoadBalancing.Proxy.Kubernetes;

/// <summary>Reads the <c>Kubernetes</c> section for a proxy: discovery of every Service its clusters name.</summary>
public static class ProxyKubernetesConfiguration
{
    /// <summary>
    /// Reads and validates the discovery options for <paramref name="proxy"/>'s clusters, adding each Service a
    /// cluster names to <see cref="KubernetesDiscoveryOptions.Services"/>. Every problem is reported with its key.
    /// </summary>
    /// <param name="section">The <c>Kubernetes</c> section (it may be absent: in-cluster defaults).</param>
    /// <param name="proxy">The proxy options whose clusters name Services.</param>
    /// <param name="options">The discovery options; null when no cluster names a Service.</param>
    /// <param name="errors">Every problem, each naming its key; a section present while no cluster names a Service is one.</param>
    /// <returns>Whether the section is valid.</returns>
    public static bool TryLoad(IConfiguration section, ProxyOptions proxy, out KubernetesDiscoveryOptions? options, out IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(proxy);
        var path = section is IConfigurationSection named ? named.Path : KubernetesDiscoveryOptionsValidation.SectionName;
        var fed = proxy.Clusters.Values.Where(c => c.Kubernetes is not null).Select(c => c.Kubernetes!).ToArray();
        if (fed.Length == 0)
        {
            options = null;
            errors = section.GetChildren().Any()
                ? [$"{path}: no cluster names a Kubernetes Service ({ProxyConfiguration.SectionName}:Clusters:<name>:Kubernetes), so this section is unused."]
                : [];
            return errors.Count == 0;
        }

        var skipped = false;
        KubernetesDiscoveryOptionsValidation.TryLoad(
            section,
            discovery =>
            {
                foreach (var service in fed)
                {
                    // A cluster without a Service name is already reported under Proxy:Clusters.
                    skipped |= string.IsNullOrWhiteSpace(service.Service);
                    if (!string.IsNullOrWhiteSpace(service.Service)
                        && !discovery.Services.Any(s => s.Namespace == service.Namespace && s.Name == service.Service && s.Port == service.Port))
                    {
                        discovery.Services.Add(new ServiceReference { Namespace = service.Namespace, Name = service.Service, Port = service.Port });
                    }
                }
            },
            out var loaded,
            out var loadErrors);

        // "Name at least one Service" only repeats the broken cluster's own error.
        errors = skipped ? [.. loadErrors.Where(e => !e.StartsWith($"{path}:Services: ", StringComparison.Ordinal))] : loadErrors;
        options = loaded;
        return errors.Count == 0;
    }
}
