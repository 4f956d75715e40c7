using k8s.Models;
using LoadBalancing.Proxy.Kubernetes.Gateway.Model;
using LoadBalancing.Proxy.Kubernetes.Status;

namespace LoadBalancing.Proxy.Kubernetes.Gateway;

/// <summary>Everything the translator reads: the Gateway API objects and the core objects they refer to.</summary>
internal sealed record GatewayInputs(
    IReadOnlyList<GatewayClass> Classes,
    IReadOnlyList<Model.Gateway> Gateways,
    IReadOnlyList<HttpRoute> HttpRoutes,
    IReadOnlyList<ReferenceGrant> ReferenceGrants,
    IReadOnlyList<V1Service> Services,
    IReadOnlyList<V1Namespace> Namespaces,
    IReadOnlyList<GrpcRoute>? GrpcRoutes = null);

/// <summary>Who we are and what the proxy can serve.</summary>
/// <param name="ControllerName">Our GatewayClass <c>spec.controllerName</c>, also written on route status.</param>
/// <param name="Addresses">IPs or hostnames the proxy is reached at, written to Gateway <c>status.addresses</c>.</param>
/// <param name="ServedPorts">The listener ports the proxy serves; null: any.</param>
/// <param name="ClusterDefaults">Settings copied into every Service cluster.</param>
/// <param name="SecretProblem">
/// Why a Secret (namespace, name) cannot give a certificate — missing, not <c>kubernetes.io/tls</c>, unreadable — or
/// null when it can or is not known yet; null when Secrets are not read.
/// </param>
/// <param name="Http1OnlyPorts">Listener ports the proxy serves with HTTP/1.1 only: no GRPCRoute there. Null: none.</param>
internal sealed record GatewaySettings(
    string ControllerName, IReadOnlyList<string> Addresses, IReadOnlySet<int>? ServedPorts, ClusterOptions? ClusterDefaults,
    Func<string, string, string?>? SecretProblem = null, IReadOnlySet<int>? Http1OnlyPorts = null);

/// <summary>A certificate an HTTPS listener terminates TLS with, for the component that loads Secrets.</summary>
/// <param name="Gateway">The Gateway, <c>namespace/name</c>.</param>
/// <param name="Listener">The listener's name.</param>
/// <param name="Port">The listener's port.</param>
/// <param name="Hostname">The listener's hostname (SNI to serve it for); null: any.</param>
/// <param name="SecretNamespace">The Secret's namespace.</param>
/// <param name="SecretName">The Secret's name.</param>
internal sealed record ListenerCertificate(string Gateway, string Listener, int Port, string? Hostname, string SecretNamespace, string SecretName);

/// <summary>What our Gateways and their routes make: routes and clusters, the status to write, certificates to load and what could not be used.</summary>
/// <param name="Set">The routes (in tie-breaking order) and the Service clusters they use.</param>
/// <param name="Statuses">GatewayClass, Gateway, HTTPRoute and GRPCRoute status.</param>
/// <param name="Problems">One log line each, naming the object.</param>
/// <param name="Certificates">The resolved certificates of programmed HTTPS listeners.</param>
internal sealed record GatewayTranslation(ProxyRouteSet Set, IReadOnlyList<DesiredStatus> Statuses, IReadOnlyList<string> Problems, IReadOnlyList<ListenerCertificate> Certificates);
