namespace LoadBalancing.Kubernetes.Slices;

/// <summary>
/// The endpoints of one Service port, from all of the Service's slices: FQDN slices skipped, the port matched by
/// name or number (or the only port when none is named), one address family (IPv4 when the Service has any,
/// else IPv6: a dual-stack pod must not count twice), duplicates across slices merged. Conditions pass through
/// unchanged; the core picks ready endpoints and falls back to serving-terminating ones, as kube-proxy does.
/// </summary>
internal static class ServiceEndpoints
{
    public static List<BackendEndpoint> Build(IReadOnlyCollection<SliceSnapshot> slices, string? port)
    {
        var family = slices.Any(s => s.AddressType == SliceAddressType.IPv4 && s.Endpoints.Length > 0) ? SliceAddressType.IPv4 : SliceAddressType.IPv6;
        var byAddress = new Dictionary<(string, int), BackendEndpoint>();
        foreach (var slice in slices)
        {
            if (slice.AddressType != family || FindPort(slice.Ports, port) is not int number)
            {
                continue;
            }

            foreach (var endpoint in slice.Endpoints)
            {
                foreach (var address in endpoint.Addresses)
                {
                    var candidate = new BackendEndpoint(address, number, zone: endpoint.Zone, conditions: endpoint.Conditions, forZones: endpoint.ForZones);
                    if (!byAddress.TryGetValue((address, number), out var existing) || Better(candidate, existing))
                    {
                        // The same address in two slices happens while the controller moves endpoints between
                        // slices; the more usable copy wins.
                        byAddress[(address, number)] = candidate;
                    }
                }
            }
        }

        return [.. byAddress.Values];
    }

    private static int? FindPort(SlicePort[] ports, string? wanted)
    {
        if (string.IsNullOrEmpty(wanted))
        {
            return ports.Length == 1 ? ports[0].Port : null;
        }

        foreach (var port in ports)
        {
            if (port.Name == wanted)
            {
                return port.Port;
            }
        }

        if (int.TryParse(wanted, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number))
        {
            foreach (var port in ports)
            {
                if (port.Port == number)
                {
                    return port.Port;
                }
            }
        }

        return null;
    }

    private static bool Better(BackendEndpoint candidate, BackendEndpoint existing) => Rank(candidate.Conditions) > Rank(existing.Conditions);

    private static int Rank(EndpointConditions conditions) =>
        (conditions.HasFlag(EndpointConditions.Ready) ? 4 : 0)
        + (conditions.HasFlag(EndpointConditions.Serving) ? 2 : 0)
        + (conditions.HasFlag(EndpointConditions.Terminating) ? 0 : 1);
}
