using LoadBalancing.Configuration;
using static LoadBalancing.Configuration.ConfigurationValues;

namespace LoadBalancing.Proxy.Kubernetes;

/// <summary>
/// The keys of the <c>Kubernetes</c> section that make the proxy a controller (the rest of the section is discovery's),
/// written out so that reading them needs no reflection.
/// </summary>
internal static class KubernetesRoutingShape
{
    public const string IngressKey = "Ingress";
    public const string GatewayKey = "Gateway";
    public const string StatusKey = "Status";
    public const string RouteNamespacesKey = "RouteNamespaces";

    public static readonly IReadOnlyList<string> Keys = [IngressKey, GatewayKey, StatusKey, RouteNamespacesKey];

    private static readonly ObjectShape<IngressControllerOptions> Ingress = new ObjectShape<IngressControllerOptions>("the Ingress controller")
        .Value("Enabled", Flag, (o, v) => o.Enabled = v)
        .Value("ControllerName", Text, (o, v) => o.ControllerName = v);

    private static readonly ObjectShape<GatewayControllerOptions> Gateway = new ObjectShape<GatewayControllerOptions>("the Gateway API controller")
        .Value("Enabled", Flag, (o, v) => o.Enabled = v)
        .Value("ControllerName", Text, (o, v) => o.ControllerName = v)
        .Map("ListenerPorts", WholeNumber, o => o.ListenerPorts);

    private static readonly ObjectShape<ControllerStatusOptions> Status = new ObjectShape<ControllerStatusOptions>("status write-back")
        .Value("Enabled", Flag, (o, v) => o.Enabled = v)
        .List("Addresses", Text, o => o.Addresses)
        .Value("LeaseNamespace", OptionalText, (o, v) => o.LeaseNamespace = v)
        .Value("LeaseName", Text, (o, v) => o.LeaseName = v)
        .Value("Identity", OptionalText, (o, v) => o.Identity = v);

    public static readonly ObjectShape<KubernetesRoutingOptions> Routing = new ObjectShape<KubernetesRoutingOptions>("Kubernetes routing")
        .Object(IngressKey, Ingress, o => o.Ingress)
        .Object(GatewayKey, Gateway, o => o.Gateway)
        .Object(StatusKey, Status, o => o.Status)
        .List(RouteNamespacesKey, Text, o => o.RouteNamespaces);
}
