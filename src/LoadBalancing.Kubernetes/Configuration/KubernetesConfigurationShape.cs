using LoadBalancing.Configuration;
using static LoadBalancing.Configuration.ConfigurationValues;

namespace LoadBalancing.Kubernetes;

/// <summary>
/// Every key the <c>Kubernetes</c> section takes, written out so that reading it needs no reflection; the tests
/// check that every settable property of the options classes is listed.
/// </summary>
internal static class KubernetesConfigurationShape
{
    public static readonly ObjectShape<ServiceReference> Service = new ObjectShape<ServiceReference>("a Service")
        .Value("Namespace", Text, (o, v) => o.Namespace = v)
        .Value("Name", Text, (o, v) => o.Name = v)
        .Value("Port", OptionalText, (o, v) => o.Port = v);

    public static readonly ObjectShape<KubernetesDiscoveryOptions> Discovery = new ObjectShape<KubernetesDiscoveryOptions>("Kubernetes")
        .Value("ApiServer", OptionalText, (o, v) => o.ApiServer = v)
        .Value("AccessToken", OptionalText, (o, v) => o.AccessToken = v)
        .Value("KubeConfigPath", OptionalText, (o, v) => o.KubeConfigPath = v)
        .Value("KubeConfigContext", OptionalText, (o, v) => o.KubeConfigContext = v)
        .List("Services", Service, o => o.Services)
        .List("Namespaces", Text, o => o.Namespaces)
        .Value("WatchTimeoutMin", Duration, (o, v) => o.WatchTimeoutMin = v)
        .Value("WatchTimeoutMax", Duration, (o, v) => o.WatchTimeoutMax = v)
        .Value("WatchIdleTimeout", Duration, (o, v) => o.WatchIdleTimeout = v)
        .Value("ListTimeout", Duration, (o, v) => o.ListTimeout = v)
        .Value("ConfirmInterval", Duration, (o, v) => o.ConfirmInterval = v)
        .Value("ConfirmGrace", Duration, (o, v) => o.ConfirmGrace = v)
        .Value("BackoffInitial", Duration, (o, v) => o.BackoffInitial = v)
        .Value("BackoffMax", Duration, (o, v) => o.BackoffMax = v)
        .Value("BackoffResetAfter", Duration, (o, v) => o.BackoffResetAfter = v)
        .Value("MinPublishInterval", Duration, (o, v) => o.MinPublishInterval = v)
        .Value("StaleAfter", Duration, (o, v) => o.StaleAfter = v)
        .Value("WedgedAfter", Duration, (o, v) => o.WedgedAfter = v);
}
