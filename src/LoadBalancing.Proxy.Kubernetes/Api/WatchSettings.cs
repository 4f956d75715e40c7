using LoadBalancing.Kubernetes;

namespace LoadBalancing.Proxy.Kubernetes.Api;

/// <summary>How an <see cref="ObjectWatch{T}"/> lists, watches and recovers; taken from the discovery options so one section tunes both.</summary>
internal sealed record WatchSettings(
    TimeSpan WatchTimeoutMin,
    TimeSpan WatchTimeoutMax,
    TimeSpan WatchIdleTimeout,
    TimeSpan ListTimeout,
    TimeSpan BackoffInitial,
    TimeSpan BackoffMax,
    TimeSpan BackoffResetAfter,
    TimeSpan RelistInterval)
{
    /// <summary>
    /// A full list this often, compared with what the watch built: configuration objects change rarely, so a watch
    /// that silently lost events could otherwise serve an old route for hours. Five minutes bounds that at a cost of
    /// one list per kind.
    /// </summary>
    public static readonly TimeSpan DefaultRelistInterval = TimeSpan.FromMinutes(5);

    public static WatchSettings From(KubernetesDiscoveryOptions options) => new(
        options.WatchTimeoutMin, options.WatchTimeoutMax, options.WatchIdleTimeout, options.ListTimeout,
        options.BackoffInitial, options.BackoffMax, options.BackoffResetAfter, DefaultRelistInterval);
}
