using System.Net;
using k8s.Models;

namespace LoadBalancing.Kubernetes.Slices;

/// <summary>
/// Turns an EndpointSlice into a <see cref="SliceSnapshot"/>, or says why it is malformed. A malformed slice is
/// skipped whole (its previous good version stays in use).
/// </summary>
internal static class SliceReader
{
    public const string ServiceNameLabel = "kubernetes.io/service-name";

    public static bool TryRead(V1EndpointSlice? slice, out SliceSnapshot snapshot, out string error)
    {
        snapshot = null!;
        if (slice?.Metadata?.Name is not { Length: > 0 } name)
        {
            error = "the object has no metadata.name";
            return false;
        }

        if (slice.Metadata.Labels is null || !slice.Metadata.Labels.TryGetValue(ServiceNameLabel, out var service) || string.IsNullOrEmpty(service))
        {
            error = $"EndpointSlice '{name}' has no {ServiceNameLabel} label";
            return false;
        }

        SliceAddressType type;
        switch (slice.AddressType)
        {
            case "IPv4":
                type = SliceAddressType.IPv4;
                break;
            case "IPv6":
                type = SliceAddressType.IPv6;
                break;
            case "FQDN":
                type = SliceAddressType.Fqdn;
                break;
            default:
                error = $"EndpointSlice '{name}' has addressType '{slice.AddressType}'";
                return false;
        }

        var ports = new SlicePort[slice.Ports?.Count ?? 0];
        for (var i = 0; i < ports.Length; i++)
        {
            var port = slice.Ports![i];
            if (port.Port is not int number || number is < 1 or > 65535)
            {
                error = $"EndpointSlice '{name}' port {i} ('{port.Name}') has no valid port number";
                return false;
            }

            ports[i] = new SlicePort(port.Name ?? "", number, string.IsNullOrEmpty(port.AppProtocol) ? null : port.AppProtocol);
        }

        var endpoints = new SliceEndpoint[slice.Endpoints?.Count ?? 0];
        for (var i = 0; i < endpoints.Length; i++)
        {
            var endpoint = slice.Endpoints![i];
            if (endpoint.Addresses is not { Count: > 0 } addresses)
            {
                error = $"EndpointSlice '{name}' endpoint {i} has no address";
                return false;
            }

            if (type != SliceAddressType.Fqdn)
            {
                foreach (var address in addresses)
                {
                    if (!IPAddress.TryParse(address, out var ip) || (ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork) != (type == SliceAddressType.IPv4))
                    {
                        error = $"EndpointSlice '{name}' endpoint {i} has address '{address}', not an {slice.AddressType} address";
                        return false;
                    }
                }
            }

            // The API's defaults for absent conditions: ready and serving true, terminating false.
            var conditions = EndpointConditions.None;
            if (endpoint.Conditions?.Ready ?? true)
            {
                conditions |= EndpointConditions.Ready;
            }

            if (endpoint.Conditions?.Serving ?? true)
            {
                conditions |= EndpointConditions.Serving;
            }

            if (endpoint.Conditions?.Terminating ?? false)
            {
                conditions |= EndpointConditions.Terminating;
            }

            var forZones = endpoint.Hints?.ForZones?.Select(z => z.Name).Where(z => !string.IsNullOrEmpty(z)).ToArray() ?? [];
            endpoints[i] = new SliceEndpoint([.. addresses], conditions, endpoint.Zone, forZones);
        }

        snapshot = new SliceSnapshot(name, service, type, ports, endpoints, slice.Metadata.ResourceVersion);
        error = "";
        return true;
    }
}
