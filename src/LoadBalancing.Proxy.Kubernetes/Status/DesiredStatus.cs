using System.Text.Json.Nodes;
using LoadBalancing.Proxy.Kubernetes.Api;

namespace LoadBalancing.Proxy.Kubernetes.Status;

/// <summary>
/// The status the controller wants one object to have. Conditions carry no <c>lastTransitionTime</c> of their own
/// choosing: the writer keeps the time of a condition whose status did not change and stamps the others.
/// </summary>
/// <param name="Kind">The object's kind.</param>
/// <param name="Namespace">Its namespace; null for cluster-scoped kinds.</param>
/// <param name="Name">Its name.</param>
/// <param name="Status">The whole <c>status</c> the controller owns.</param>
/// <param name="ParentsController">
/// For route kinds, whose <c>status.parents</c> several controllers share: our <c>controllerName</c>. The writer then
/// replaces only the entries with that <c>controllerName</c> and keeps every other controller's.
/// </param>
internal sealed record DesiredStatus(ApiKind Kind, string? Namespace, string Name, JsonObject Status, string? ParentsController = null);
