namespace LoadBalancing.Kubernetes.Slices;

/// <summary>
/// The endpoints of one Service port, from all of the Service's slices: FQDN slices skipped, the port matched by
/// name or number (or the only port when none is named), one address family (IPv4 when the Service has any,
/// else IPv6: a dual-stack pod must not count twice), duplicates across slices merged. Conditions pass through
/// unchanged; the core picks ready endpoints and falls back to serving-terminating ones, as kube-proxy does.
/// </summary>
internal static class ServiceEndpoints
{
    public const string OriginKind = "EndpointSlice";

    public static List<BackendEndpoint> Build(IReadOnlyCollection<SliceSnapshot> slices, string? port) => Build(slices, port, out _);

    /// <summary>The endpoints, and the slices they came from (those of the chosen family that have the port), by name.</summary>
    public static List<BackendEndpoint> Build(IReadOnlyCollection<SliceSnapshot> slices, string? port, out EndpointOrigin[] origins)
    {
        var family = Family(slices);
        var byAddress = new Dictionary<(string, int), BackendEndpoint>();
        var used = new List<EndpointOrigin>(slices.Count);
        foreach (var slice in slices)
        {
            if (slice.AddressType != family || FindPort(slice.Ports, port) is not { } chosen)
            {
                continue;
            }

            used.Add(Describe(slice, chosen));
            var number = chosen.Port;

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

        used.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        origins = [.. used];
        return [.. byAddress.Values];
    }

    // With no endpoints anywhere the family changes no endpoint; IPv4 then, when there are IPv4 slices, so the
    // description names the (empty) slices the Service has.
    private static SliceAddressType Family(IReadOnlyCollection<SliceSnapshot> slices) =>
        slices.Any(s => s.AddressType == SliceAddressType.IPv4 && s.Endpoints.Length > 0) ? SliceAddressType.IPv4
        : slices.Any(s => s.AddressType == SliceAddressType.IPv6 && s.Endpoints.Length > 0) ? SliceAddressType.IPv6
        : slices.Any(s => s.AddressType == SliceAddressType.IPv4) ? SliceAddressType.IPv4
        : SliceAddressType.IPv6;

    private static EndpointOrigin Describe(SliceSnapshot slice, SlicePort port)
    {
        var details = new List<KeyValuePair<string, string>>(5)
        {
            new("addressType", slice.AddressType.ToString()),
            new("port", port.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        };
        if (port.Name.Length > 0)
        {
            details.Add(new("portName", port.Name));
        }

        if (port.AppProtocol is { } appProtocol)
        {
            details.Add(new("appProtocol", appProtocol));
        }

        details.Add(new("endpoints", slice.Endpoints.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return new EndpointOrigin(OriginKind, slice.Name, slice.ResourceVersion, details);
    }

    private static SlicePort? FindPort(SlicePort[] ports, string? wanted)
    {
        if (string.IsNullOrEmpty(wanted))
        {
            return ports.Length == 1 ? ports[0] : null;
        }

        foreach (var port in ports)
        {
            if (port.Name == wanted)
            {
                return port;
            }
        }

        if (int.TryParse(wanted, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number))
        {
            foreach (var port in ports)
            {
                if (port.Port == number)
                {
                    return port;
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
