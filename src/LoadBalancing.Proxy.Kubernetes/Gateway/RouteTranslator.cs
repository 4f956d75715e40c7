using System.Globalization;
using System.Text.Json.Nodes;
using k8s.Models;
using LoadBalancing.Proxy.Kubernetes.Api;
using LoadBalancing.Proxy.Kubernetes.Gateway.Model;
using LoadBalancing.Proxy.Kubernetes.Status;

namespace LoadBalancing.Proxy.Kubernetes.Gateway;

/// <summary>An HTTPRoute or GRPCRoute as the translator reads it: what it is, where it attaches, its status and its rules.</summary>
internal sealed record GatewayRouteObject(
    GatewayRouteKind Kind, V1ObjectMeta Metadata, IReadOnlyList<ParentReference> ParentRefs, IReadOnlyList<string> Hostnames,
    IReadOnlyList<RouteParentStatus> StatusParents, Func<string, GatewayBackends, List<GatewayRule>> ReadRules)
{
    public static GatewayRouteObject From(HttpRoute route) => new(
        GatewayRouteKind.Http, route.Metadata, route.Spec?.ParentRefs ?? [], route.Spec?.Hostnames ?? [], route.Status?.Parents ?? [],
        (ns, backends) => [.. (route.Spec?.Rules ?? []).Select(r => GatewayRule.Read(r, ns, backends))]);

    public static GatewayRouteObject From(GrpcRoute route) => new(
        GatewayRouteKind.Grpc, route.Metadata, route.Spec?.ParentRefs ?? [], route.Spec?.Hostnames ?? [], route.Status?.Parents ?? [],
        (ns, backends) => [.. (route.Spec?.Rules ?? []).Select(r => GatewayRule.Read(r, ns, backends))]);
}

/// <summary>One HTTPRoute or GRPCRoute: attach it to our Gateways' listeners, add its routes, and write its status for our parents.</summary>
internal static class RouteTranslator
{
    /// <summary>The route's status for our controller; null when it has nothing to do with us.</summary>
    public static DesiredStatus? Translate(GatewayRouteObject route, RouteContext context)
    {
        var kind = route.Kind;
        var ns = route.Metadata.NamespaceProperty ?? "default";
        var key = $"{ns}/{route.Metadata.Name}";
        var generation = route.Metadata.Generation ?? 0;
        var controller = context.Settings.ControllerName;
        var hadOurs = route.StatusParents.Any(p => p.ControllerName == controller);
        var hostnames = route.Hostnames;

        // Parents that are our Gateways, in order.
        var parents = new List<(ParentReference Ref, List<ListenerState> Listeners)>();
        foreach (var parent in route.ParentRefs)
        {
            if ((parent.Group ?? GatewayListeners.Group) == GatewayListeners.Group && (parent.Kind ?? "Gateway") == "Gateway"
                && context.Gateways.TryGetValue((string.IsNullOrEmpty(parent.Namespace) ? ns : parent.Namespace, parent.Name ?? ""), out var listeners))
            {
                parents.Add((parent, listeners));
            }
        }

        if (parents.Count == 0)
        {
            // Clear entries we wrote when the route still named one of our Gateways.
            return hadOurs ? new DesiredStatus(kind.Api, ns, route.Metadata.Name, new JsonObject { ["parents"] = new JsonArray() }, controller) : null;
        }

        var rules = route.ReadRules(ns, context.Backends);
        var invalid = rules.Select(r => r.Invalid).ToList();

        // Hosts per listener port across all accepted parents: an empty list means any host.
        var byPort = new SortedDictionary<int, List<string>?>();
        var entries = new JsonArray();
        var accepts = new List<(string Reason, string Message)?>();
        var attachedListeners = new List<ListenerState>();
        foreach (var (parent, listeners) in parents)
        {
            var outcome = Attach(kind, parent, listeners, ns, key, hostnames, context.NamespaceLabels, out var attached);
            accepts.Add(outcome);
            attachedListeners.AddRange(attached.Select(a => a.Listener));
            if (outcome is { } failure)
            {
                context.Problems.Add($"{kind} {key}: parent {parent.Namespace ?? ns}/{parent.Name}: {failure.Message}");
                continue;
            }

            foreach (var (listener, hosts) in attached.Where(a => a.Listener.Programmed))
            {
                if (!byPort.TryGetValue(listener.Port, out var existing))
                {
                    byPort[listener.Port] = hosts;
                }
                else if (existing is { Count: > 0 })
                {
                    // One listener on the port taking any host makes the port take any host.
                    byPort[listener.Port] = hosts.Count == 0 ? [] : [.. existing.Union(hosts, StringComparer.Ordinal)];
                }
            }
        }

        Emit(route, key, rules, invalid, byPort, context);

        // Conditions shared by every parent: references, and rule validity.
        var backendProblems = rules.SelectMany(r => r.BackendProblems).ToList();
        var resolved = backendProblems.Count == 0
            ? GatewayConditions.Condition(GatewayConditions.ResolvedRefs, true, GatewayConditions.ResolvedRefs, "", generation)
            : GatewayConditions.Condition(GatewayConditions.ResolvedRefs, false, backendProblems[0].Reason, string.Join(" ", backendProblems.Select(p => p.Message)), generation);
        foreach (var problem in backendProblems)
        {
            context.Problems.Add($"{kind} {key}: {problem.Message} Requests for it answer {kind.FailureStatus}.");
        }

        // A backend's policy annotations that cannot be applied leave the route working with the default policy: the
        // reference resolved and the rule is implemented, so Accepted and ResolvedRefs stay True (the spec has no
        // reason for it) and the Accepted message says what was not applied.
        var policyProblems = rules.SelectMany(r => r.PolicyProblems).Distinct(StringComparer.Ordinal).ToList();
        foreach (var problem in policyProblems)
        {
            context.Problems.Add($"{kind} {key}: {problem}");
        }

        var acceptedMessage = policyProblems.Count == 0
            ? "Accepted by the proxy."
            : $"Accepted by the proxy. Backend policy not applied: {string.Join(" ", policyProblems)}";
        for (var r = 0; r < rules.Count; r++)
        {
            if (rules[r].PartlyUnresolved)
            {
                // Known deviation: the proxy has no 500 backend yet, so the unresolved share goes to the valid backends.
                context.Problems.Add($"{kind} {key}: rule {r}: some backendRefs are unresolved; their share of traffic goes to the others instead of answering {kind.FailureStatus}.");
            }

            if (invalid[r] is { } why)
            {
                context.Problems.Add($"{kind} {key}: rule {r}: {why} Its matches answer {kind.FailureStatus}.");
            }
        }

        var invalidRules = Enumerable.Range(0, rules.Count).Where(r => invalid[r] is not null).ToList();
        var allInvalid = rules.Count > 0 && invalidRules.Count == rules.Count;
        if (allInvalid)
        {
            // A route none of whose rules can be served is not Accepted, so no listener counts it as attached.
            foreach (var listener in attachedListeners)
            {
                listener.AttachedRoutes.Remove(key);
            }
        }

        for (var p = 0; p < parents.Count; p++)
        {
            var conditions = new JsonArray();
            if (accepts[p] is { } failure)
            {
                conditions.Add((JsonNode)GatewayConditions.Condition(GatewayConditions.Accepted, false, failure.Reason, failure.Message, generation));
            }
            else if (allInvalid)
            {
                var first = rules[invalidRules[0]];
                conditions.Add((JsonNode)GatewayConditions.Condition(GatewayConditions.Accepted, false, first.InvalidReason, string.Join(" ", invalidRules.Select(r => $"Rule {r}: {invalid[r]}")), generation));
            }
            else
            {
                conditions.Add((JsonNode)GatewayConditions.Condition(GatewayConditions.Accepted, true, GatewayConditions.Accepted, acceptedMessage, generation));
                if (invalidRules.Count > 0)
                {
                    // The spec's "Dropped Rule" approach, except the rules' matches answer 500 instead of falling through.
                    var message = $"Dropped Rule(s) {string.Join(", ", invalidRules)}: {string.Join(" ", invalidRules.Select(r => invalid[r]))} Their matches answer {kind.FailureStatus}.";
                    conditions.Add((JsonNode)GatewayConditions.Condition(GatewayConditions.PartiallyInvalid, true, GatewayConditions.UnsupportedValue, message, generation));
                }
            }

            conditions.Add(resolved.DeepClone());
            entries.Add((JsonNode)new JsonObject
            {
                ["parentRef"] = ParentRefJson(parents[p].Ref),
                ["controllerName"] = controller,
                ["conditions"] = conditions,
            });
        }

        return new DesiredStatus(kind.Api, ns, route.Metadata.Name, new JsonObject { ["parents"] = entries }, controller);
    }

    /// <summary>
    /// Attaches the route to the listeners one parentRef selects; null on success (with the listeners and their
    /// intersected hosts), else the Accepted=False reason and message.
    /// </summary>
    private static (string Reason, string Message)? Attach(
        GatewayRouteKind kind, ParentReference parent, List<ListenerState> listeners, string routeNamespace, string routeKey, IReadOnlyList<string> hostnames,
        Dictionary<string, IDictionary<string, string>> namespaceLabels, out List<(ListenerState Listener, List<string> Hosts)> attached)
    {
        attached = [];
        var selected = listeners
            .Where(l => string.IsNullOrEmpty(parent.SectionName) || l.Name == parent.SectionName)
            .Where(l => parent.Port is not { } port || l.Port == port)
            .ToList();
        if (selected.Count == 0)
        {
            return (GatewayConditions.NoMatchingParent, $"The Gateway has no listener{(parent.SectionName is null ? "" : $" named {parent.SectionName}")}{(parent.Port is null ? "" : $" on port {parent.Port}")}.");
        }

        var allowed = selected.Where(l => l.Takes(kind) && NamespaceAllowed(l, routeNamespace, namespaceLabels)).ToList();
        if (allowed.Count == 0)
        {
            return (GatewayConditions.NotAllowedByListeners, $"No selected listener admits {kind}s from this namespace (or it cannot be served).");
        }

        foreach (var listener in allowed)
        {
            // A listener counts the route only when their hostnames intersect: attachedRoutes counts accepted routes
            // only (a route no listener's hostname matches is not Accepted), per listener, as the conformance suite checks.
            if (GatewayHostnames.Intersect(listener.Hostname, hostnames) is { } hosts)
            {
                listener.AttachedRoutes.Add(routeKey);
                attached.Add((listener, hosts));
            }
        }

        return attached.Count == 0
            ? (GatewayConditions.NoMatchingListenerHostname, "No hostname of the route matches a selected listener's hostname.")
            : null;
    }

    private static bool NamespaceAllowed(ListenerState listener, string routeNamespace, Dictionary<string, IDictionary<string, string>> namespaceLabels)
    {
        var from = listener.Spec.AllowedRoutes?.Namespaces;
        return (from?.From ?? "Same") switch
        {
            "All" => true,
            "Same" => routeNamespace == listener.GatewayNamespace,
            "Selector" => from?.Selector is { } selector && namespaceLabels.TryGetValue(routeNamespace, out var labels) && LabelSelectors.Matches(selector, labels),
            _ => false,
        };
    }

    /// <summary>Adds one route per rule, match and group of ports sharing the same hosts; each checked by the proxy's validation.</summary>
    private static void Emit(GatewayRouteObject route, string key, List<GatewayRule> rules, List<string?> invalid, SortedDictionary<int, List<string>?> byPort, RouteContext context)
    {
        var groups = byPort
            .GroupBy(p => string.Join(",", p.Value ?? []), StringComparer.Ordinal)
            .Select(g => (Hosts: (IReadOnlyList<string>)(g.First().Value ?? []), Ports: (IReadOnlyList<int>)[.. g.Select(p => p.Key)]))
            .ToList();
        var origin = new RouteOrigin(route.Kind.Kind, route.Metadata.NamespaceProperty, route.Metadata.Name ?? "") { ResourceVersion = route.Metadata.ResourceVersion };
        for (var r = 0; r < rules.Count; r++)
        {
            for (var m = 0; m < rules[r].Matches.Count; m++)
            {
                foreach (var (hosts, ports) in groups)
                {
                    var name = groups.Count == 1
                        ? string.Create(CultureInfo.InvariantCulture, $"{route.Kind.NamePrefix}:{key}:{r}:{m}")
                        : string.Create(CultureInfo.InvariantCulture, $"{route.Kind.NamePrefix}:{key}:{r}:{m}:{string.Join(",", ports)}");
                    var built = rules[r].Build(m, name, hosts, ports);
                    if (!Validates(built, context.Backends.Clusters, out var errors))
                    {
                        invalid[r] ??= $"the proxy cannot apply it: {errors}";
                        built = rules[r].Build(m, name, hosts, ports, failed: true);
                        if (!Validates(built, context.Backends.Clusters, out errors))
                        {
                            context.Problems.Add($"{route.Kind} {key}: rule {r} match {m} cannot be routed at all: {errors}");
                            invalid[r] = $"match {m} cannot be routed: {errors}";
                            continue;
                        }
                    }

                    built.Origin = origin;
                    if (Claim(built, $"{route.Kind} {key}", context) && rules[r].Precedence is { } precedence)
                    {
                        context.GrpcPrecedence[built] = precedence[m];
                    }
                }
            }
        }
    }

    /// <summary>
    /// Keeps the hosts of a route no older route (of either kind) already matches the same way; drops it when none
    /// remain. <paramref name="owner"/> is the route's kind and key. True when the route was added.
    /// </summary>
    private static bool Claim(ProxyRouteOptions route, string owner, RouteContext context)
    {
        var ports = string.Join(",", route.Ports);
        var path = route.PathType == PathMatchType.Prefix && route.Path.Length > 1 && route.Path.TrimEnd('/') is { Length: > 0 } trimmed ? trimmed : route.Path;
        var methods = string.Join(",", route.Methods.Order(StringComparer.Ordinal));
        var headers = string.Join(",", route.Headers.Select(h => $"{h.Name.ToUpperInvariant()}:{h.Type}:{h.Value}").Order(StringComparer.Ordinal));
        var query = string.Join(",", route.QueryParameters.Select(q => $"{q.Name}:{q.Type}:{q.Value}").Order(StringComparer.Ordinal));
        var hosts = route.Hosts.Count == 0 ? ["*"] : route.Hosts.ToList();
        var kept = new List<string>();
        foreach (var host in hosts)
        {
            var match = $"{ports}|{host.ToUpperInvariant()}|{route.PathType}|{path}|{methods}|{headers}|{query}";
            if (context.Claimed.TryGetValue(match, out var older))
            {
                context.Problems.Add($"{owner}: {route.Name}: host '{host}' {route.PathType} '{route.Path}' is already routed by the older {older}; skipped.");
                continue;
            }

            context.Claimed[match] = owner;
            kept.Add(host);
        }

        if (kept.Count == 0)
        {
            return false;
        }

        if (route.Hosts.Count > 0 && kept.Count < route.Hosts.Count)
        {
            route.Hosts.Clear();
            foreach (var host in kept)
            {
                route.Hosts.Add(host);
            }
        }

        context.Routes.Add(route);
        return true;
    }

    /// <summary>Whether the proxy's own validation accepts the route on its own (cross-route duplicates are <see cref="Claim"/>'s job).</summary>
    private static bool Validates(ProxyRouteOptions route, Dictionary<string, ClusterOptions> clusters, out string errors)
    {
        errors = string.Join(" ", ProxyRouteSet.Check(route, clusters));
        return errors.Length == 0;
    }

    /// <summary>The parentRef as the route gave it, which is how status entries are matched to it.</summary>
    private static JsonObject ParentRefJson(ParentReference parent)
    {
        var json = new JsonObject();
        Put(json, "group", parent.Group);
        Put(json, "kind", parent.Kind);
        Put(json, "namespace", parent.Namespace);
        Put(json, "name", parent.Name);
        Put(json, "sectionName", parent.SectionName);
        if (parent.Port is { } port)
        {
            json["port"] = port;
        }

        return json;
    }

    private static void Put(JsonObject json, string key, string? value)
    {
        if (value is not null)
        {
            json[key] = value;
        }
    }
}
