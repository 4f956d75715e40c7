namespace LoadBalancing.Proxy.Kubernetes;

/// <summary>
/// Makes the proxy a Kubernetes Ingress and/or Gateway API controller: which objects are ours, where status goes, and
/// how replicas agree on who writes it. Read from the <c>Kubernetes</c> section's <c>Ingress</c>, <c>Gateway</c> and
/// <c>Status</c> keys.
/// </summary>
public sealed class KubernetesRoutingOptions
{
    /// <summary>Ingress (<c>networking.k8s.io/v1</c>) with IngressClass.</summary>
    public IngressControllerOptions Ingress { get; } = new();

    /// <summary>Gateway API (<c>gateway.networking.k8s.io/v1</c>) GatewayClass, Gateway, HTTPRoute and GRPCRoute.</summary>
    public GatewayControllerOptions Gateway { get; } = new();

    /// <summary>Status written back to the objects, by one replica at a time.</summary>
    public ControllerStatusOptions Status { get; } = new();

    /// <summary>The namespaces whose Ingresses, routes and Services are read; empty (the default) reads every namespace.</summary>
    public IList<string> RouteNamespaces { get; } = new List<string>();

    /// <summary>Whether either controller is on.</summary>
    public bool AnyEnabled => Ingress.Enabled || Gateway.Enabled;
}

/// <summary>The Ingress controller.</summary>
public sealed class IngressControllerOptions
{
    /// <summary>The default <see cref="ControllerName"/>.</summary>
    public const string DefaultControllerName = "loadbalancing.dev/ingress-controller";

    /// <summary>Whether Ingresses are read and routed. Default false.</summary>
    public bool Enabled { get; set; }

    /// <summary>
    /// The <c>spec.controller</c> of the IngressClasses that are ours; Ingresses naming one of them (or none, when one of
    /// them is the cluster's default class) are routed. Default <c>loadbalancing.dev/ingress-controller</c>.
    /// </summary>
    public string ControllerName { get; set; } = DefaultControllerName;
}

/// <summary>The Gateway API controller.</summary>
public sealed class GatewayControllerOptions
{
    /// <summary>The default <see cref="ControllerName"/>.</summary>
    public const string DefaultControllerName = "loadbalancing.dev/gateway-controller";

    /// <summary>Whether GatewayClasses, Gateways, HTTPRoutes and GRPCRoutes are read and routed. Default false.</summary>
    public bool Enabled { get; set; }

    /// <summary>The <c>spec.controllerName</c> of the GatewayClasses that are ours. Default <c>loadbalancing.dev/gateway-controller</c>.</summary>
    public string ControllerName { get; set; } = DefaultControllerName;

    /// <summary>
    /// Which local port serves each Gateway listener port, when they differ (a Service maps port 80 to the pod's
    /// 8080): <c>{ "80": 8080, "443": 8443 }</c>. A listener port not mapped is served on the same port number; a
    /// listener whose port the proxy does not listen on is reported <c>PortUnavailable</c>.
    /// </summary>
    public IDictionary<string, int> ListenerPorts { get; } = new Dictionary<string, int>(StringComparer.Ordinal);
}

/// <summary>Status write-back and leader election.</summary>
public sealed class ControllerStatusOptions
{
    /// <summary>Whether status is written back (Ingress <c>status.loadBalancer</c>; GatewayClass, Gateway, HTTPRoute and GRPCRoute conditions). Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The addresses clients reach the proxy at (IPs or host names), written to Ingress and Gateway status.</summary>
    public IList<string> Addresses { get; } = new List<string>();

    /// <summary>The namespace of the Lease replicas elect a status writer through; default <c>POD_NAMESPACE</c>, else <c>default</c>.</summary>
    public string? LeaseNamespace { get; set; }

    /// <summary>The Lease's name. Default <c>loadbalancing-controller</c>.</summary>
    public string LeaseName { get; set; } = "loadbalancing-controller";

    /// <summary>This replica's identity in the Lease; default <c>POD_NAME</c>, else the host name.</summary>
    public string? Identity { get; set; }
}
