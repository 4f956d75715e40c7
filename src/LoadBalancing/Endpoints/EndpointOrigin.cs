namespace LoadBalancing;

/// <summary>
/// One object a publish was built from, as its publisher describes it: for Kubernetes discovery, one EndpointSlice
/// (kind, name, resourceVersion, and details such as its address type and the chosen port's appProtocol). Only the
/// admin view reads it; picks never do.
/// </summary>
public sealed class EndpointOrigin
{
    /// <summary>Creates a description.</summary>
    /// <param name="kind">What kind of object it is, e.g. <c>EndpointSlice</c>.</param>
    /// <param name="name">Its name.</param>
    /// <param name="version">The version the publish was built from (a Kubernetes resourceVersion), or <c>null</c> when unknown.</param>
    /// <param name="details">Further facts as key/value pairs, in the order they should be shown.</param>
    public EndpointOrigin(string kind, string name, string? version, IReadOnlyList<KeyValuePair<string, string>>? details = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(kind);
        ArgumentException.ThrowIfNullOrEmpty(name);
        Kind = kind;
        Name = name;
        Version = version;
        Details = details ?? [];
    }

    /// <summary>What kind of object it is, e.g. <c>EndpointSlice</c>.</summary>
    public string Kind { get; }

    /// <summary>Its name.</summary>
    public string Name { get; }

    /// <summary>The version the publish was built from, or <c>null</c> when unknown.</summary>
    public string? Version { get; }

    /// <summary>Further facts as key/value pairs (empty when there are none).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Details { get; }

    /// <inheritdoc/>
    public override string ToString() => Version is null ? $"{Kind} {Name}" : $"{Kind} {Name}@{Version}";
}
