using System.Runtime.CompilerServices;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>The endpoints a request has tried, so a retry goes elsewhere. Inline: no allocation.</summary>
internal struct TriedEndpoints
{
    private Buffer _items;
    private int _count;

    public readonly int Count => _count;

    /// <summary>The endpoints tried, in order.</summary>
    [System.Diagnostics.CodeAnalysis.UnscopedRef]
    public readonly ReadOnlySpan<BackendEndpoint> Items => ((ReadOnlySpan<BackendEndpoint>)_items)[.._count];

    public void Add(BackendEndpoint endpoint)
    {
        if (_count < ProxyOptionsValidation.MaxAttemptsLimit)
        {
            _items[_count++] = endpoint;
        }
    }

    public readonly bool Contains(BackendEndpoint endpoint)
    {
        for (var i = 0; i < _count; i++)
        {
            if (_items[i].Equals(endpoint))
            {
                return true;
            }
        }

        return false;
    }

    [InlineArray(ProxyOptionsValidation.MaxAttemptsLimit)]
    private struct Buffer
    {
        private BackendEndpoint _element;
    }
}
