using LoadBalancing.Kubernetes;

namespace LoadBalancing.Proxy.Kubernetes.Controller;

/// <summary>
/// Before a route set goes into service: asks discovery for every Service its clusters name (following each from
/// then on) and waits, at most <see cref="Bound"/>, until each has its first endpoint list. A route to a Service that
/// is new to this replica then starts with endpoints instead of answering 503 for the length of a list; a Service
/// whose namespace cannot be listed delays the other changes by no more than the bound.
/// </summary>
internal sealed class EndpointWarmUp(KubernetesDiscovery discovery, TimeProvider time)
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(2);

    public async Task WaitAsync(ProxyRouteSet set, CancellationToken cancellationToken)
    {
        var waits = new List<Task>();
        foreach (var cluster in set.Clusters.Values)
        {
            if (cluster.Kubernetes is { } service && !string.IsNullOrEmpty(service.Service))
            {
                var source = discovery.GetSource(service.Namespace, service.Service, service.Port);
                if (source.Version == 0)
                {
                    waits.Add(FirstListAsync(source));
                }
            }
        }

        if (waits.Count == 0)
        {
            return;
        }

        try
        {
            await Task.WhenAll(waits).WaitAsync(Bound, time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Publish anyway: those clusters fill in when their lists arrive, and /backends shows them never synced.
        }
    }

    private static Task FirstListAsync(EndpointSource source)
    {
        var listed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var subscription = source.Subscribe(_ => listed.TrySetResult());
        if (source.Version != 0)
        {
            listed.TrySetResult();
        }

        return listed.Task.ContinueWith(_ => subscription.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}
