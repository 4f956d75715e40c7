using System.Globalization;
using System.Text.RegularExpressions;

namespace LoadBalancing.Proxy.Kubernetes;

/// <summary>Checks <see cref="KubernetesRoutingOptions"/>, naming the key of every problem.</summary>
internal static partial class KubernetesRoutingValidation
{
    public static IReadOnlyList<string> GetErrors(KubernetesRoutingOptions options, string prefix)
    {
        var errors = new List<string>();
        ControllerName(options.Ingress.ControllerName, $"{prefix}:Ingress:ControllerName", errors);
        ControllerName(options.Gateway.ControllerName, $"{prefix}:Gateway:ControllerName", errors);
        foreach (var (listener, local) in options.Gateway.ListenerPorts)
        {
            var key = $"{prefix}:Gateway:ListenerPorts:{listener}";
            if (!int.TryParse(listener, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                errors.Add($"{key}: '{listener}' is not a Gateway listener port (1-65535).");
            }

            if (local is < 1 or > 65535)
            {
                errors.Add($"{key}: {local} is not a port (1-65535).");
            }
        }

        for (var i = 0; i < options.RouteNamespaces.Count; i++)
        {
            if (!DnsLabel().IsMatch(options.RouteNamespaces[i]))
            {
                errors.Add($"{prefix}:RouteNamespaces:{i}: '{options.RouteNamespaces[i]}' is not a namespace name.");
            }
        }

        for (var i = 0; i < options.Status.Addresses.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(options.Status.Addresses[i]))
            {
                errors.Add($"{prefix}:Status:Addresses:{i}: an address (an IP or a host name) is needed.");
            }
        }

        if (options.Status.LeaseNamespace is { } ns && !DnsLabel().IsMatch(ns))
        {
            errors.Add($"{prefix}:Status:LeaseNamespace: '{ns}' is not a namespace name.");
        }

        if (!DnsSubdomain().IsMatch(options.Status.LeaseName))
        {
            errors.Add($"{prefix}:Status:LeaseName: '{options.Status.LeaseName}' is not an object name (lower-case letters, digits, '-' and '.').");
        }

        return errors;
    }

    /// <summary>Gateway API's rule for controller names, which IngressClass controllers follow too: <c>example.net/path</c>.</summary>
    private static void ControllerName(string name, string key, List<string> errors)
    {
        if (!ControllerNamePattern().IsMatch(name))
        {
            errors.Add($"{key}: '{name}' is not a controller name: a domain, '/', and a path (for example 'loadbalancing.dev/gateway-controller').");
        }
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")]
    private static partial Regex DnsSubdomain();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$")]
    private static partial Regex ControllerNamePattern();
}
