namespace LoadBalancing.Kubernetes.Slices;

/// <summary>
/// What discovery keeps of one EndpointSlice: only the fields that decide endpoints, so memory stays small
/// whatever else the object carries, and its resourceVersion, which the admin view shows.
/// </summary>
internal sealed record SliceSnapshot(
    string Name,
    string Service,
    SliceAddressType AddressType,
    SlicePort[] Ports,
    SliceEndpoint[] Endpoints,
    string? ResourceVersion = null)
{
    /// <summary>Content equality, the resourceVersion aside (records compare arrays by reference).</summary>
    public bool SameContent(SliceSnapshot other) =>
        Name == other.Name && Service == other.Service && AddressType == other.AddressType
        && Ports.AsSpan().SequenceEqual(other.Ports)
        && Endpoints.Length == other.Endpoints.Length
        && Endpoints.Zip(other.Endpoints).All(p => p.First.SameContent(p.Second));
}

/// <summary>The address family of a slice.</summary>
internal enum SliceAddressType
{
    IPv4,
    IPv6,
    Fqdn,
}

/// <summary>A slice port: name (empty when unnamed), the endpoints' port number and its appProtocol, if any.</summary>
internal readonly record struct SlicePort(string Name, int Port, string? AppProtocol = null);

/// <summary>One endpoint of a slice (one pod): its addresses, conditions and topology.</summary>
internal sealed record SliceEndpoint(string[] Addresses, EndpointConditions Conditions, string? Zone, string[] ForZones)
{
    public bool SameContent(SliceEndpoint other) =>
        Conditions == other.Conditions && Zone == other.Zone
        && Addresses.AsSpan().SequenceEqual(other.Addresses) && ForZones.AsSpan().SequenceEqual(other.ForZones);
}
