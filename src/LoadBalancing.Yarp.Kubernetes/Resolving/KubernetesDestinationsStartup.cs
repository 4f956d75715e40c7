using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.Configuration;

namespace LoadBalancing.Yarp.Kubernetes.Resolving;

/// <summary>
/// YARP loads its configuration before discovery has listed anything, and reloads when discovery's first lists land.
/// Started after discovery (which waits for its first lists), this waits for that reload, so the host starts serving
/// with the pods in YARP's clusters rather than answering 503 for a moment.
/// </summary>
internal sealed partial class KubernetesDestinationsStartup(KubernetesDestinationResolver resolver, TimeProvider time, ILogger<KubernetesDestinationsStartup>? logger = null) : IHostedService
{
    /// <summary>How long start-up waits for YARP to take discovery's endpoints.</summary>
    internal static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Bound);
        try
        {
            while (true)
            {
                // Taken before the check: a load that ends in between is not missed.
                var next = resolver.NextApplied;
                if (!resolver.Behind)
                {
                    return;
                }

                await next.WaitAsync(Bound, time, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when ((e is OperationCanceledException or TimeoutException) && !cancellationToken.IsCancellationRequested)
        {
            Log.NotAppliedInTime(logger ?? (ILogger)NullLogger.Instance, Bound.TotalSeconds);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "YARP has not applied discovery's endpoints within {Seconds} s of start; starting anyway.")]
        public static partial void NotAppliedInTime(ILogger logger, double seconds);
    }
}

/// <summary>Tells the resolver when YARP has applied (or failed to apply) a configuration.</summary>
internal sealed class KubernetesDestinationsConfigListener(KubernetesDestinationResolver resolver) : IConfigChangeListener
{
    public void ConfigurationLoadingFailed(IProxyConfigProvider configProvider, Exception exception) => resolver.OnConfigurationEnded(applied: false);

    public void ConfigurationLoaded(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
    }

    public void ConfigurationApplyingFailed(IReadOnlyList<IProxyConfig> proxyConfigs, Exception exception) => resolver.OnConfigurationEnded(applied: false);

    public void ConfigurationApplied(IReadOnlyList<IProxyConfig> proxyConfigs) => resolver.OnConfigurationEnded(applied: true);
}
