using System.Net;
using Microsoft.Extensions.Primitives;
using Microsoft.Extensions.ServiceDiscovery;

namespace LoadBalancing.Http.ServiceDiscovery;

/// <summary>
/// One service-discovery watcher's view of an <see cref="EndpointSource"/>: the source's ready endpoints, and a change
/// token that fires on the source's next publish, so the watcher re-reads instead of polling.
/// </summary>
internal sealed class EndpointSourceProvider : IServiceEndpointProvider
{
    private readonly EndpointSource _source;
    private readonly IDisposable _subscription;
    private readonly Lock _lock = new();
    private CancellationTokenSource _changed = new();
    private bool _disposed;

    public EndpointSourceProvider(EndpointSource source)
    {
        _source = source;
        _subscription = source.Subscribe(_ => OnChanged());
    }

    public ValueTask PopulateAsync(IServiceEndpointBuilder endpoints, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endpoints);

        // The token before the set: a publish in between cancels this token, and the watcher reads again.
        endpoints.AddChangeToken(new CancellationChangeToken(Volatile.Read(ref _changed).Token));
        var set = _source.Current;
        foreach (var endpoint in set.Endpoints)
        {
            if ((endpoint.Conditions & EndpointConditions.Ready) == 0)
            {
                continue;
            }

            EndPoint address = IPAddress.TryParse(endpoint.Address, out var ip)
                ? new IPEndPoint(ip, endpoint.Port)
                : new DnsEndPoint(endpoint.Address, endpoint.Port);
            endpoints.Endpoints.Add(ServiceEndpoint.Create(address));
        }

        return ValueTask.CompletedTask;
    }

    private void OnChanged()
    {
        CancellationTokenSource previous;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            previous = _changed;
            _changed = new CancellationTokenSource();
        }

        // Not disposed: a watcher may still register on its token, which then fires at once.
        previous.Cancel();
    }

    public ValueTask DisposeAsync()
    {
        _subscription.Dispose();
        lock (_lock)
        {
            _disposed = true;
        }

        return ValueTask.CompletedTask;
    }

    public override string ToString() => $"LoadBalancing endpoint source '{_source.Name}'";
}
