using System.Net;
using System.Text.Json.Nodes;
using LoadBalancing.Proxy.Kubernetes.Gateway.Model;

namespace LoadBalancing.Proxy.Kubernetes.Gateway;

/// <summary>
/// Judges the listeners of one of our Gateways: protocol (HTTP, and HTTPS terminated here), port, route kinds,
/// certificate references and conflicts; then writes the Gateway's status once routes have attached.
/// </summary>
internal static class GatewayListeners
{
    public const string Group = "gateway.networking.k8s.io";

    public static List<ListenerState> Evaluate(Model.Gateway gateway, GatewaySettings settings, ReferenceGrants grants, List<string> problems)
    {
        var ns = gateway.Metadata.NamespaceProperty ?? "default";
        var key = $"{ns}/{gateway.Metadata.Name}";
        var states = (gateway.Spec?.Listeners ?? []).Select(l => new ListenerState(key, ns, l)).ToList();
        foreach (var state in states)
        {
            var protocol = state.Spec.Protocol ?? "";
            var http = protocol is "HTTP";
            var https = protocol is "HTTPS" && state.Spec.Tls?.Mode is null or "Terminate";
            if (!http && !https)
            {
                state.Accepted = false;
                state.AcceptedReason = GatewayConditions.UnsupportedProtocol;
                state.AcceptedMessage = protocol is "HTTPS"
                    ? $"HTTPS with TLS mode {state.Spec.Tls?.Mode} is not supported; only Terminate."
                    : $"Protocol {protocol} is not supported; only HTTP and HTTPS.";
            }
            else if (settings.ServedPorts is { } served && !served.Contains(state.Port))
            {
                state.Accepted = false;
                state.AcceptedReason = GatewayConditions.PortUnavailable;
                state.AcceptedMessage = $"The proxy does not listen on port {state.Port}.";
            }

            Kinds(state, supported: http || https, grpc: settings.Http1OnlyPorts?.Contains(state.Port) != true);
            if (https)
            {
                Certificates(state, grants, settings.SecretProblem);
            }

            if (!state.Accepted || !state.RefsResolved)
            {
                problems.Add($"Gateway {key}: listener {state.Name}: {(state.Accepted ? state.RefsMessage : state.AcceptedMessage)}");
            }
        }

        Conflicts(states);
        foreach (var state in states.Where(s => s.ConflictReason is not null))
        {
            problems.Add($"Gateway {key}: listener {state.Name}: {state.ConflictMessage}");
        }

        return states;
    }

    /// <summary>The Gateway's whole status: addresses, conditions and one entry per listener.</summary>
    public static JsonObject Status(Model.Gateway gateway, List<ListenerState> listeners, GatewaySettings settings)
    {
        var generation = gateway.Metadata.Generation ?? 0;
        var valid = listeners.Count(l => l.Accepted && l.ConflictReason is null);
        var invalid = listeners.Where(l => !l.Accepted || l.ConflictReason is not null).Select(l => l.Name).ToList();
        var accepted = valid == listeners.Count && valid > 0
            ? GatewayConditions.Condition(GatewayConditions.Accepted, true, GatewayConditions.Accepted, "Accepted by the proxy.", generation)
            : GatewayConditions.Condition(
                GatewayConditions.Accepted, valid > 0, GatewayConditions.ListenersNotValid,
                listeners.Count == 0 ? "The Gateway has no listeners." : $"Listeners not valid: {string.Join(", ", invalid)}.", generation);
        var anyProgrammed = listeners.Any(l => l.Programmed);
        var programmed = !anyProgrammed
            ? GatewayConditions.Condition(GatewayConditions.Programmed, false, GatewayConditions.Invalid, "No listener can be served.", generation)
            : settings.Addresses.Count == 0
                ? GatewayConditions.Condition(GatewayConditions.Programmed, false, GatewayConditions.AddressNotAssigned, "The proxy has no address to publish yet.", generation)
                : GatewayConditions.Condition(GatewayConditions.Programmed, true, GatewayConditions.Programmed, "Programmed in the proxy.", generation);
        var status = new JsonObject
        {
            ["addresses"] = new JsonArray([.. settings.Addresses.Select(a => (JsonNode)new JsonObject
            {
                ["type"] = IPAddress.TryParse(a, out _) ? "IPAddress" : "Hostname",
                ["value"] = a,
            })]),
            ["conditions"] = new JsonArray(accepted, programmed),
            ["listeners"] = new JsonArray([.. listeners.Select(l => (JsonNode)ListenerStatus(l, generation))]),
        };
        return status;
    }

    private static JsonObject ListenerStatus(ListenerState l, long generation)
    {
        var kinds = new JsonArray();
        foreach (var kind in GatewayRouteKind.All.Where(k => l.Kinds.Contains(k.Kind)))
        {
            kinds.Add((JsonNode)new JsonObject { ["group"] = Group, ["kind"] = kind.Kind });
        }

        var conflicted = l.ConflictReason is { } reason
            ? GatewayConditions.Condition(GatewayConditions.Conflicted, true, reason, l.ConflictMessage, generation)
            : GatewayConditions.Condition(GatewayConditions.Conflicted, false, GatewayConditions.NoConflicts, "", generation);
        var accepted = l.ConflictReason is { } conflict
            ? GatewayConditions.Condition(GatewayConditions.Accepted, false, conflict, "Conflicted listeners are not served.", generation)
            : GatewayConditions.Condition(GatewayConditions.Accepted, l.Accepted, l.AcceptedReason, l.AcceptedMessage, generation);
        var programmed = l.Programmed
            ? GatewayConditions.Condition(GatewayConditions.Programmed, true, GatewayConditions.Programmed, "", generation)
            : GatewayConditions.Condition(GatewayConditions.Programmed, false, GatewayConditions.Invalid, "The listener is not served; see its other conditions.", generation);
        return new JsonObject
        {
            ["name"] = l.Name,
            ["supportedKinds"] = kinds,
            ["attachedRoutes"] = l.AttachedRoutes.Count,
            ["conditions"] = new JsonArray(
                accepted,
                GatewayConditions.Condition(GatewayConditions.ResolvedRefs, l.RefsResolved, l.RefsReason, l.RefsMessage, generation),
                programmed,
                conflicted),
        };
    }

    /// <summary>
    /// HTTP and HTTPS listeners take HTTPRoutes and GRPCRoutes (gRPC arrives as HTTP/2: by ALPN over TLS, as
    /// prior-knowledge h2c without), except GRPCRoutes where the proxy's port speaks HTTP/1.1 only
    /// (<paramref name="grpc"/> false); any other kind listed is named by InvalidRouteKinds.
    /// </summary>
    private static void Kinds(ListenerState state, bool supported, bool grpc)
    {
        var served = GatewayRouteKind.All.Where(k => supported && (grpc || k != GatewayRouteKind.Grpc)).Select(k => k.Kind).ToList();
        var kinds = state.Spec.AllowedRoutes?.Kinds;
        if (kinds is null || kinds.Count == 0)
        {
            state.Kinds.UnionWith(served);
            return;
        }

        var bad = new List<string>();
        foreach (var kind in kinds)
        {
            var group = string.IsNullOrEmpty(kind.Group) ? Group : kind.Group;
            if (group == Group && served.Contains(kind.Kind ?? ""))
            {
                state.Kinds.Add(kind.Kind!);
            }
            else
            {
                bad.Add($"{group}/{kind.Kind}");
            }
        }

        if (bad.Count > 0)
        {
            state.RefsResolved = false;
            state.RefsReason = GatewayConditions.InvalidRouteKinds;
            state.RefsMessage = $"Route kinds not supported here: {string.Join(", ", bad)}."
                + (supported && !grpc && bad.Contains($"{Group}/{GatewayRouteKind.Grpc.Kind}") ? " The proxy's listener for this port speaks HTTP/1.1 only (Protocols: Http1), and gRPC needs HTTP/2." : "");
        }
    }

    /// <summary>
    /// Every reference must name a core Secret in the Gateway's namespace or one a ReferenceGrant opens. A Secret that
    /// is missing or unreadable makes the refs unresolved but stays wanted: its last good certificate keeps serving.
    /// </summary>
    private static void Certificates(ListenerState state, ReferenceGrants grants, Func<string, string, string?>? secretProblem)
    {
        var refs = state.Spec.Tls?.CertificateRefs ?? [];
        string? reason = null;
        var message = "";
        if (refs.Count == 0)
        {
            reason = GatewayConditions.InvalidCertificateRef;
            message = "An HTTPS listener needs a certificateRef.";
        }

        var resolved = new List<ListenerCertificate>();
        foreach (var certificate in refs)
        {
            var ns = string.IsNullOrEmpty(certificate.Namespace) ? state.GatewayNamespace : certificate.Namespace;
            var name = certificate.Name ?? "";
            if (!string.IsNullOrEmpty(certificate.Group) || (certificate.Kind ?? "Secret") != "Secret" || name.Length == 0)
            {
                reason ??= GatewayConditions.InvalidCertificateRef;
                message = $"certificateRef {certificate.Group}/{certificate.Kind} {ns}/{name} is not a core Secret.";
            }
            else if (!grants.Allows(Group, "Gateway", state.GatewayNamespace, "", "Secret", ns, name))
            {
                reason ??= GatewayConditions.RefNotPermitted;
                message = $"Secret {ns}/{name} is in another namespace and no ReferenceGrant there allows Gateways from {state.GatewayNamespace}.";
            }
            else
            {
                resolved.Add(new ListenerCertificate(state.Gateway, state.Name, state.Port, state.Hostname, ns, name));
                if (secretProblem?.Invoke(ns, name) is { } problem && state.RefsResolved)
                {
                    state.RefsResolved = false;
                    state.RefsReason = GatewayConditions.InvalidCertificateRef;
                    state.RefsMessage = problem;
                }
            }
        }

        if (reason is not null)
        {
            // One bad reference fails the listener: serving with a partial certificate set would answer some names wrongly.
            state.CertificatesUsable = false;
            if (state.RefsResolved)
            {
                state.RefsResolved = false;
                state.RefsReason = reason;
                state.RefsMessage = message;
            }

            return;
        }

        state.Certificates.AddRange(resolved);
    }

    /// <summary>
    /// Listeners sharing a port must share a protocol (else ProtocolConflict) and differ in hostname (else
    /// HostnameConflict). Every member of a conflicting set is conflicted: the spec forbids picking a winner.
    /// </summary>
    private static void Conflicts(List<ListenerState> states)
    {
        foreach (var port in states.GroupBy(s => s.Port))
        {
            var protocols = port.Select(s => s.Spec.Protocol ?? "").Distinct(StringComparer.Ordinal).ToList();
            if (protocols.Count > 1)
            {
                foreach (var state in port)
                {
                    state.ConflictReason = GatewayConditions.ProtocolConflict;
                    state.ConflictMessage = $"Port {state.Port} is used with several protocols: {string.Join(", ", protocols)}.";
                }

                continue;
            }

            foreach (var host in port.GroupBy(s => s.Hostname ?? "", StringComparer.Ordinal).Where(g => g.Count() > 1))
            {
                foreach (var state in host)
                {
                    state.ConflictReason = GatewayConditions.HostnameConflict;
                    state.ConflictMessage = $"Another listener on port {state.Port} has the same hostname '{host.Key}'.";
                }
            }
        }
    }
}
