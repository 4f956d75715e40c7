using System.Text.Json.Nodes;

namespace LoadBalancing.Proxy.Kubernetes.Gateway;

/// <summary>Condition types and reasons as Gateway API v1 names them, and the condition shape status carries.</summary>
internal static class GatewayConditions
{
    public const string Accepted = "Accepted";
    public const string Programmed = "Programmed";
    public const string ResolvedRefs = "ResolvedRefs";
    public const string Conflicted = "Conflicted";
    public const string PartiallyInvalid = "PartiallyInvalid";

    // Gateway and listener reasons.
    public const string ListenersNotValid = "ListenersNotValid";
    public const string Invalid = "Invalid";
    public const string AddressNotAssigned = "AddressNotAssigned";
    public const string PortUnavailable = "PortUnavailable";
    public const string UnsupportedProtocol = "UnsupportedProtocol";
    public const string InvalidCertificateRef = "InvalidCertificateRef";
    public const string InvalidRouteKinds = "InvalidRouteKinds";
    public const string RefNotPermitted = "RefNotPermitted";
    public const string HostnameConflict = "HostnameConflict";
    public const string ProtocolConflict = "ProtocolConflict";
    public const string NoConflicts = "NoConflicts";

    // Route reasons.
    public const string NotAllowedByListeners = "NotAllowedByListeners";
    public const string NoMatchingListenerHostname = "NoMatchingListenerHostname";
    public const string NoMatchingParent = "NoMatchingParent";
    public const string UnsupportedValue = "UnsupportedValue";
    public const string IncompatibleFilters = "IncompatibleFilters";
    public const string InvalidKind = "InvalidKind";
    public const string BackendNotFound = "BackendNotFound";

    /// <summary>
    /// A condition without <c>lastTransitionTime</c>: the status writer keeps the old time when the status did not
    /// change and stamps the others.
    /// </summary>
    public static JsonObject Condition(string type, bool status, string reason, string message, long generation) => new()
    {
        ["type"] = type,
        ["status"] = status ? "True" : "False",
        ["reason"] = reason,
        ["message"] = message,
        ["observedGeneration"] = generation,
    };
}
