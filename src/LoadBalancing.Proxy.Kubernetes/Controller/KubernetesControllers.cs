using LoadBalancing.Kubernetes;
using LoadBalancing.Proxy.Kubernetes.Api;
using LoadBalancing.Proxy.Kubernetes.Election;
using LoadBalancing.Proxy.Kubernetes.Status;
using LoadBalancing.Proxy.Kubernetes.Tls;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Kubernetes.Controller;

/// <summary>
/// The controllers the options turn on, sharing one API client, and the hosted service that runs their watches for
/// the life of the host.
/// </summary>
internal sealed class KubernetesControllers : BackgroundService
{
    private readonly k8s.Kubernetes _client;

    private readonly TimeSpan _startBound;

    public KubernetesControllers(KubernetesDiscoveryOptions discovery, KubernetesRoutingOptions routing, KubernetesDiscovery endpoints, IReadOnlySet<int>? servedLocalPorts, IReadOnlySet<int> http1OnlyLocalPorts, bool servesTls, TimeProvider time, ILoggerFactory loggers,
        Ingress.IngressListeners? ingressListeners = null)
    {
        _startBound = discovery.ListTimeout;
        var warmUp = new EndpointWarmUp(endpoints, time);
        _client = KubernetesClientFactory.Create(discovery);
        var api = new ObjectApi(_client);
        var settings = WatchSettings.From(discovery);
        if (routing.Status.Enabled)
        {
            var election = new LeaseElection(_client, new LeaseElectionOptions
            {
                Namespace = routing.Status.LeaseNamespace ?? Environment.GetEnvironmentVariable("POD_NAMESPACE") ?? "default",
                Name = routing.Status.LeaseName,
                Identity = routing.Status.Identity ?? Environment.GetEnvironmentVariable("POD_NAME") ?? Environment.MachineName,
            }, time, loggers.CreateLogger<LeaseElection>());
            Status = new StatusPublisher(election, new StatusWriter(_client, time, loggers.CreateLogger<StatusWriter>()), time);
        }

        if (servesTls)
        {
            IReadOnlyList<string?> scopes = routing.RouteNamespaces.Count == 0 ? [null] : [.. routing.RouteNamespaces];
            Certificates = new KubernetesCertificates(api, scopes, settings, time, loggers);
        }

        var controllers = new List<RoutingController>();
        if (routing.Ingress.Enabled)
        {
            Ingress = new IngressController(api, routing, settings, clusterDefaults: null, time, loggers, Status, warmUp.WaitAsync) { Certificates = Certificates, Listeners = ingressListeners };
            controllers.Add(Ingress);
        }

        if (routing.Gateway.Enabled)
        {
            Gateway = new GatewayController(api, routing, settings, servedLocalPorts, http1OnlyLocalPorts, time, loggers, Status, warmUp.WaitAsync) { Certificates = Certificates };
            controllers.Add(Gateway);
            if (Certificates is not null)
            {
                // A listener's status says when its Secret cannot give a certificate.
                Certificates.SecretProblemsChanged = Gateway.SignalChange;
            }
        }

        Controllers = controllers;
    }

    public IngressController? Ingress { get; }

    public GatewayController? Gateway { get; }

    /// <summary>The https listeners' certificates from Secrets; null when no listener serves TLS.</summary>
    public KubernetesCertificates? Certificates { get; }

    /// <summary>The status writer with its leader election; null when status is not written.</summary>
    public StatusPublisher? Status { get; }

    public IReadOnlyList<RoutingController> Controllers { get; }

    /// <summary>
    /// Starts the controllers and waits, at most the list timeout, for each to publish its first routes: the
    /// listeners open with the routes in place (as discovery's start waits for the first endpoint lists). Past the
    /// bound the host starts anyway and readiness reports the source that has not published.
    /// </summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bound.CancelAfter(_startBound);
            await Task.WhenAll(Controllers.Select(c => c.FirstPublish)).WaitAsync(bound.Token).ConfigureAwait(false);
            if (Certificates is not null)
            {
                await Certificates.WhenCaughtUpAsync(bound.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Readiness says which source has not read its routes.
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll([
            .. Controllers.Select(c => c.RunAsync(stoppingToken)),
            Status?.RunAsync(stoppingToken) ?? Task.CompletedTask,
            Certificates?.RunAsync(stoppingToken) ?? Task.CompletedTask]);

    public override void Dispose()
    {
        base.Dispose();
        _client.Dispose();
    }
}
