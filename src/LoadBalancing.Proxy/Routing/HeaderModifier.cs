using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace LoadBalancing.Proxy.Routing;

/// <summary>A route's header changes, applied in the order remove, set, add (Gateway API's order).</summary>
internal sealed class HeaderModifier
{
    private readonly string[] _remove;
    private readonly (string Name, string Value)[] _set;
    private readonly (string Name, string Value)[] _add;

    private HeaderModifier(HeaderModifierOptions options)
    {
        _remove = [.. options.Remove];
        _set = [.. options.Set.Select(static h => (h.Name, h.Value))];
        _add = [.. options.Add.Select(static h => (h.Name, h.Value))];
    }

    public static HeaderModifier? Create(HeaderModifierOptions? options) =>
        options is null || (options.Remove.Count == 0 && options.Set.Count == 0 && options.Add.Count == 0) ? null : new(options);

    public void Apply(IHeaderDictionary headers)
    {
        foreach (var name in _remove)
        {
            headers.Remove(name);
        }

        foreach (var (name, value) in _set)
        {
            headers[name] = value;
        }

        foreach (var (name, value) in _add)
        {
            // Appending to a header that has values costs an array; setting one that has none does not.
            headers[name] = headers.TryGetValue(name, out var existing) && existing.Count > 0 ? StringValues.Concat(existing, value) : value;
        }
    }
}
