using Microsoft.Extensions.Primitives;

namespace LoadBalancing.Yarp.Kubernetes.Resolving;

/// <summary>
/// What YARP is given of one Service port: the endpoints that take traffic, and a change token that fires once when
/// they change. One feed per Service port, shared by every destination and reload that names it, so a reload for
/// another reason leaves no subscription behind.
/// </summary>
internal sealed class ServiceFeed : IDisposable
{
    private readonly EndpointSource _source;
    private readonly Lock _lock = new();
    private readonly IDisposable _subscription;
    private volatile Generation _current;

    public ServiceFeed(EndpointSource source)
    {
        _source = source;
        _current = new Generation(Select(source.Current));

        // Subscribed after the first selection: a publish in between is seen by Refresh, which compares.
        _subscription = source.Subscribe(_ => Refresh());
        Refresh();
    }

    public EndpointSource Source => _source;

    /// <summary>The current generation; its token fires when a later one replaces it.</summary>
    public Generation Current => _current;

    public void Dispose() => _subscription.Dispose();

    /// <summary>
    /// Ready endpoints take traffic; when none is ready, serving (terminating) ones do; an endpoint neither ready nor
    /// serving never does. The same rule as the core's balancer and kube-proxy.
    /// </summary>
    internal static BackendEndpoint[] Select(EndpointSet set)
    {
        var required = EndpointConditions.Serving;
        foreach (var endpoint in set.Endpoints)
        {
            if ((endpoint.Conditions & EndpointConditions.Ready) != 0)
            {
                required = EndpointConditions.Ready;
                break;
            }
        }

        var selected = new List<BackendEndpoint>(set.Count);
        foreach (var endpoint in set.Endpoints)
        {
            if ((endpoint.Conditions & required) != 0)
            {
                selected.Add(endpoint);
            }
        }

        return [.. selected];
    }

    private void Refresh()
    {
        Generation previous;
        lock (_lock)
        {
            previous = _current;
            var selected = Select(_source.Current);
            if (Same(previous.Endpoints, selected))
            {
                return;
            }

            _current = new Generation(selected);
        }

        // YARP reloads its whole configuration from the token's callback: never on the discovery publisher's thread.
        _ = previous.Changed.CancelAsync();
    }

    private static bool Same(BackendEndpoint[] a, BackendEndpoint[] b)
    {
        if (a.Length != b.Length)
        {
            return false;
        }

        // Both come from sets in canonical order.
        for (var i = 0; i < a.Length; i++)
        {
            var x = a[i];
            var y = b[i];
            if (!x.Equals(y) || x.Weight != y.Weight || x.Conditions != y.Conditions || !string.Equals(x.Zone, y.Zone, StringComparison.Ordinal)
                || !x.ForZones.SequenceEqual(y.ForZones, StringComparer.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>One selection of endpoints and the token that fires when it is replaced.</summary>
    internal sealed class Generation
    {
        public Generation(BackendEndpoint[] endpoints)
        {
            Endpoints = endpoints;
            Token = new CancellationChangeToken(Changed.Token);
        }

        public BackendEndpoint[] Endpoints { get; }

        public CancellationTokenSource Changed { get; } = new();

        public IChangeToken Token { get; }
    }
}
