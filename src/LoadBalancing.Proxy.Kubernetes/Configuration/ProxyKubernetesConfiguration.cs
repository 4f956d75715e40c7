using LoadBalancing.Configuration;
using LoadBalancing.Kubernetes;
using Microsoft.Extensions.Configuration;

namespace LoadBalancing.Proxy.Kubernetes;

/// <summary>
/// Reads the <c>Kubernetes</c> section for a proxy: discovery of every Service its clusters name, and (under
/// <c>Ingress</c>, <c>Gateway</c>, <c>Status</c> and <c>RouteNamespaces</c>) the controller that routes Ingress
/// and Gateway API objects.
/// </summary>
public static class ProxyKubernetesConfiguration
{
    /// <summary>
    /// Reads and validates the discovery options for <paramref name="proxy"/>'s clusters, adding each Service a
    /// cluster names to <see cref="KubernetesDiscoveryOptions.Services"/>, and the controller options. Every problem
    /// is reported with its key.
    /// </summary>
    /// <param name="section">The <c>Kubernetes</c> section (it may be absent: in-cluster defaults).</param>
    /// <param name="proxy">The proxy options whose clusters name Services.</param>
    /// <param name="options">The discovery options; null when no cluster names a Service and no controller is enabled.</param>
    /// <param name="routing">The controller options (both controllers off when the section does not enable them).</param>
    /// <param name="errors">Every problem, each naming its key; a section present while nothing uses it is one.</param>
    /// <returns>Whether the section is valid.</returns>
    public static bool TryLoad(IConfiguration section, ProxyOptions proxy, out KubernetesDiscoveryOptions? options, out KubernetesRoutingOptions routing, out IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(proxy);
        var path = section is IConfigurationSection named ? named.Path : KubernetesDiscoveryOptionsValidation.SectionName;
        var all = new List<string>();
        routing = ReadRouting(section, path, all);
        var discoverySection = new FilteredSection(section, path, key => !IsRoutingKey(key));

        var fed = proxy.Clusters.Values.Where(c => c.Kubernetes is not null).Select(c => c.Kubernetes!).ToArray();
        if (fed.Length == 0 && !routing.AnyEnabled)
        {
            options = null;
            if (section.GetChildren().Any())
            {
                all.Add($"{path}: no cluster names a Kubernetes Service ({ProxyConfiguration.SectionName}:Clusters:<name>:Kubernetes) and neither {path}:Ingress:Enabled nor {path}:Gateway:Enabled is true, so this section is unused.");
            }

            errors = all;
            return all.Count == 0;
        }

        KubernetesDiscoveryOptionsValidation.TryLoad(
            discoverySection,
            discovery =>
            {
                foreach (var service in fed)
                {
                    // A cluster without a Service name is already reported under Proxy:Clusters.
                    if (!string.IsNullOrWhiteSpace(service.Service)
                        && !discovery.Services.Any(s => s.Namespace == service.Namespace && s.Name == service.Service && s.Port == service.Port))
                    {
                        discovery.Services.Add(new ServiceReference { Namespace = service.Namespace, Name = service.Service, Port = service.Port });
                    }
                }
            },
            out var loaded,
            out var loadErrors);

        all.AddRange(loadErrors);
        options = loaded;
        errors = all;
        return all.Count == 0;
    }

    private static KubernetesRoutingOptions ReadRouting(IConfiguration section, string path, List<string> errors)
    {
        var routing = new KubernetesRoutingOptions();
        var problems = new ConfigurationProblems();
        KubernetesRoutingShape.Routing.Read(new FilteredSection(section, path, IsRoutingKey), path, routing, problems);
        errors.AddRange(problems.Errors);
        errors.AddRange(problems.Independent(KubernetesRoutingValidation.GetErrors(routing, path)));
        return routing;
    }

    private static bool IsRoutingKey(string key) => KubernetesRoutingShape.Keys.Contains(key, StringComparer.OrdinalIgnoreCase);
}
