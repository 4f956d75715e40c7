using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using LoadBalancing.Proxy.Kubernetes.Api;
using LoadBalancing.Proxy.Kubernetes.Ingress;
using LoadBalancing.Proxy.Kubernetes.Status;
using LoadBalancing.Proxy.Kubernetes.Tls;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Proxy.Kubernetes.Controller;

/// <summary>
/// The Ingress controller: watches IngressClasses, Ingresses and Services, routes the Ingresses of our classes to
/// clusters fed by EndpointSlice discovery, and asks for <c>status.loadBalancer</c> on each of them.
/// </summary>
internal sealed class IngressController : RoutingController
{
    private readonly ObjectWatch<V1IngressClass> _classes;
    private readonly ObjectWatch<V1Ingress>[] _ingresses;
    private readonly ObjectWatch<V1Service>[] _services;
    private readonly string _controllerName;
    private readonly IReadOnlyList<string> _addresses;
    private readonly ClusterOptions? _clusterDefaults;

    /// <summary>The proxy's plain-HTTP and TLS listener ports, for ssl-redirect; null when not known (none is redirected).</summary>
    public IngressListeners? Listeners { get; init; }

    public IngressController(
        ObjectApi api, KubernetesRoutingOptions options, WatchSettings settings, ClusterOptions? clusterDefaults,
        TimeProvider time, ILoggerFactory loggers, IStatusSink? status, Func<ProxyRouteSet, CancellationToken, Task>? warmUp)
        : base("ingress", time, loggers.CreateLogger("LoadBalancing.Proxy.Kubernetes.Ingress"), status, warmUp)
    {
        var logger = loggers.CreateLogger("LoadBalancing.Proxy.Kubernetes.Watch");
        _controllerName = options.Ingress.ControllerName;
        _addresses = [.. options.Status.Addresses];
        _clusterDefaults = clusterDefaults;
        IReadOnlyList<string?> scopes = options.RouteNamespaces.Count == 0 ? [null] : [.. options.RouteNamespaces];
        _classes = new(api, ApiKind.IngressClass, null, e => KubernetesJson.Deserialize<V1IngressClass>(e), settings, time, logger, Changed);
        _ingresses = [.. scopes.Select(ns => new ObjectWatch<V1Ingress>(api, ApiKind.Ingress, ns, e => KubernetesJson.Deserialize<V1Ingress>(e), settings, time, logger, Changed))];
        _services = [.. scopes.Select(ns => new ObjectWatch<V1Service>(api, ApiKind.Service, ns, e => KubernetesJson.Deserialize<V1Service>(e), settings, time, logger, Changed))];
        Watches = [_classes, .. _ingresses, .. _services];
    }

    public override IReadOnlyList<IObjectWatch> Watches { get; }

    protected override (ProxyRouteSet Set, IReadOnlyList<DesiredStatus> Statuses, IReadOnlyList<string> Problems) Rebuild()
    {
        var selector = new IngressClassSelector(_classes.Objects, _controllerName);
        var ingresses = _ingresses.SelectMany(w => w.Objects).ToArray();
        var translation = IngressTranslator.Translate(ingresses, selector, _services.SelectMany(w => w.Objects), _clusterDefaults, Listeners);
        var problems = translation.Problems.Select(p => $"Ingress {p.Ingress}: {p.Problem}")
            .Concat(Watches.OfType<IObjectWatchProblems>().SelectMany(w => w.ProblemLines))
            .ToList();
        WantedCertificates = [.. ingresses.Where(selector.IsOurs).SelectMany(TlsCertificates)];
        var statuses = new List<DesiredStatus>();
        if (_addresses.Count > 0)
        {
            var loadBalancer = LoadBalancerStatus(_addresses);
            foreach (var ingress in ingresses.Where(selector.IsOurs))
            {
                statuses.Add(new DesiredStatus(ApiKind.Ingress, ingress.Metadata.NamespaceProperty, ingress.Metadata.Name, loadBalancer.DeepClone().AsObject()));
            }
        }

        return (translation.Set, statuses, problems);
    }

    /// <summary>Each <c>spec.tls</c> entry: its Secret, in the Ingress's namespace, for its hosts (none: any host).</summary>
    private static IEnumerable<WantedCertificate> TlsCertificates(V1Ingress ingress)
    {
        var ns = ingress.Metadata.NamespaceProperty ?? "default";
        foreach (var tls in ingress.Spec?.Tls ?? [])
        {
            if (!string.IsNullOrEmpty(tls.SecretName))
            {
                IReadOnlyList<string> hosts = tls.Hosts is { Count: > 0 } named ? [.. named] : ["*"];
                yield return new WantedCertificate(hosts, ns, tls.SecretName, $"Ingress {ns}/{ingress.Metadata.Name}");
            }
        }
    }

    /// <summary><c>{"loadBalancer":{"ingress":[{"ip":…}|{"hostname":…}]}}</c>, as ingress-nginx writes it.</summary>
    private static JsonObject LoadBalancerStatus(IEnumerable<string> addresses)
    {
        var entries = new JsonArray();
        foreach (var address in addresses)
        {
            entries.Add((JsonNode)(IPAddress.TryParse(address, out _) ? new JsonObject { ["ip"] = address } : new JsonObject { ["hostname"] = address }));
        }

        return new JsonObject { ["loadBalancer"] = new JsonObject { ["ingress"] = entries } };
    }
}
