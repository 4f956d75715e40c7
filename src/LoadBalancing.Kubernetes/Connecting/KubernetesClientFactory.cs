using k8s;

namespace LoadBalancing.Kubernetes;

/// <summary>Builds the KubernetesClient from the options: an explicit URL, a kubeconfig file, or the in-cluster service account.</summary>
internal static class KubernetesClientFactory
{
    public static k8s.Kubernetes Create(KubernetesDiscoveryOptions options)
    {
        KubernetesClientConfiguration configuration;
        if (options.ApiServer is { } url)
        {
            configuration = new KubernetesClientConfiguration { Host = url, AccessToken = options.AccessToken };
        }
        else if (options.KubeConfigPath is { } path)
        {
            configuration = KubeConfigFile.Load(path, options.KubeConfigContext);
        }
        else if (KubernetesClientConfiguration.IsInCluster())
        {
            configuration = KubernetesClientConfiguration.InClusterConfig();
        }
        else
        {
            throw new ArgumentException(
                $"{KubernetesDiscoveryOptionsValidation.SectionName}: no ApiServer or KubeConfigPath is set and this process is not running in a cluster (no service account token).",
                nameof(options));
        }

        configuration.FirstMessageHandlerSetup = handler =>
        {
            if (handler is SocketsHttpHandler sockets)
            {
                // An abandoned watch (idle, deadline, shutdown) is closed at once instead of being drained for
                // up to two seconds, and a connect to an unreachable API server fails instead of hanging.
                sockets.ResponseDrainTimeout = TimeSpan.Zero;
                sockets.ConnectTimeout = options.ListTimeout;
            }
        };
        return new k8s.Kubernetes(configuration, new Watching.CancellationClosesResponse());
    }
}
