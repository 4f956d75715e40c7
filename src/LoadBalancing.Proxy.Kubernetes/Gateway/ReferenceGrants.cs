using LoadBalancing.Proxy.Kubernetes.Gateway.Model;

namespace LoadBalancing.Proxy.Kubernetes.Gateway;

/// <summary>Answers whether a ReferenceGrant lets an object refer to one in another namespace.</summary>
internal sealed class ReferenceGrants
{
    private readonly ILookup<string, ReferenceGrantSpec> _byNamespace;

    public ReferenceGrants(IEnumerable<ReferenceGrant> grants) =>
        _byNamespace = grants
            .Where(g => g.Spec is not null && g.Metadata?.NamespaceProperty is not null)
            .ToLookup(g => g.Metadata.NamespaceProperty, g => g.Spec!, StringComparer.Ordinal);

    /// <summary>
    /// Whether a <paramref name="fromKind"/> in <paramref name="fromNamespace"/> may refer to the
    /// <paramref name="toKind"/> <paramref name="toNamespace"/>/<paramref name="toName"/>: a grant in the target's
    /// namespace must list both (a <c>to</c> without a name covers every object of the kind).
    /// </summary>
    public bool Allows(string fromGroup, string fromKind, string fromNamespace, string toGroup, string toKind, string toNamespace, string toName)
    {
        if (string.Equals(fromNamespace, toNamespace, StringComparison.Ordinal))
        {
            return true;
        }

        foreach (var spec in _byNamespace[toNamespace])
        {
            var from = spec.From?.Any(f =>
                string.Equals(f.Group ?? "", fromGroup, StringComparison.Ordinal)
                && string.Equals(f.Kind, fromKind, StringComparison.Ordinal)
                && string.Equals(f.Namespace, fromNamespace, StringComparison.Ordinal)) ?? false;
            var to = spec.To?.Any(t =>
                string.Equals(t.Group ?? "", toGroup, StringComparison.Ordinal)
                && string.Equals(t.Kind, toKind, StringComparison.Ordinal)
                && (string.IsNullOrEmpty(t.Name) || string.Equals(t.Name, toName, StringComparison.Ordinal))) ?? false;
            if (from && to)
            {
                return true;
            }
        }

        return false;
    }
}
