namespace LoadBalancing.Proxy;

/// <summary>
/// Where a route came from, as its route source says: the object (an Ingress, an HTTPRoute) and the version of it the
/// route was built from. Shown in <c>/config</c> and <c>/backends</c>, so an operator can tell which object, at which
/// version, a request was routed by.
/// </summary>
/// <param name="Kind">The object's kind (<c>Ingress</c>, <c>HTTPRoute</c>).</param>
/// <param name="Namespace">Its namespace, if it has one.</param>
/// <param name="Name">Its name.</param>
public sealed record RouteOrigin(string Kind, string? Namespace, string Name)
{
    /// <summary>The version of the object the route was built from (a Kubernetes resourceVersion).</summary>
    public string? ResourceVersion { get; init; }

    /// <summary>
    /// Why the route may not reflect the object as it is now, for example: its newest version cannot be read, so the
    /// route is the last good version's. Null when the route is current.
    /// </summary>
    public string? Problem { get; init; }

    /// <inheritdoc />
    public override string ToString() => Namespace is null ? $"{Kind} {Name}" : $"{Kind} {Namespace}/{Name}";
}
