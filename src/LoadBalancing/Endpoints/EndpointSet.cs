namespace LoadBalancing;

/// <summary>
/// An immutable, versioned snapshot of a source's endpoints in canonical order (by address, then
/// port) with the state object of each. Every replica that sees the same endpoints builds the same
/// set, whatever order discovery delivered them in.
/// </summary>
public sealed class EndpointSet
{
    internal EndpointSet(long version, BackendEndpoint[] endpoints, EndpointState[] states, DateTimeOffset created)
    {
        Version = version;
        EndpointArray = endpoints;
        StateArray = states;
        Created = created;
    }

    /// <summary>An empty set with version 0.</summary>
    public static EndpointSet Empty { get; } = new(0, [], [], DateTimeOffset.MinValue);

    /// <summary>The version; each publish that changes the endpoints increments it.</summary>
    public long Version { get; }

    /// <summary>When this set was published.</summary>
    public DateTimeOffset Created { get; }

    /// <summary>The endpoints in canonical order.</summary>
    public IReadOnlyList<BackendEndpoint> Endpoints => EndpointArray;

    /// <summary>The state of each endpoint, aligned with <see cref="Endpoints"/>.</summary>
    public IReadOnlyList<EndpointState> States => StateArray;

    /// <summary>The number of endpoints.</summary>
    public int Count => EndpointArray.Length;

    internal BackendEndpoint[] EndpointArray { get; }

    internal EndpointState[] StateArray { get; }
}
