using System.Globalization;
using System.Text.Json.Nodes;

namespace LoadBalancing.Kubernetes.Tests.Support;

/// <summary>
/// Service, Ingress, IngressClass, Gateway API and Lease JSON in the shape the API server stores them. The fake API server
/// applies no defaulting (neither built-in nor CRD schema defaults), so these builders write out what the real server
/// would default: parentRef group/kind, backendRef group/kind/weight, an HTTPRoute rule's default PathPrefix "/" match,
/// a listener's allowedRoutes (from Same), a Service port's protocol and targetPort.
/// </summary>
internal static class Objects
{
    public const string GatewayGroup = "gateway.networking.k8s.io";

    // ---- Services ----

    /// <summary>A Service port; <paramref name="TargetPort"/> (a number) or <paramref name="TargetPortName"/> (a container port's name); neither: the same as <paramref name="Port"/>.</summary>
    public sealed record ServicePort(string? Name, int Port, int? TargetPort = null, string? TargetPortName = null, string Protocol = "TCP", string? AppProtocol = null);

    public static JsonObject Service(
        string name, ServicePort[] ports, string ns = "default", string type = "ClusterIP", IReadOnlyDictionary<string, string>? selector = null,
        string? clusterIp = "10.96.0.10", IReadOnlyDictionary<string, string>? labels = null, IReadOnlyDictionary<string, string>? annotations = null)
    {
        var spec = new JsonObject
        {
            ["type"] = type,
            ["ports"] = Array(ports, p =>
            {
                var port = new JsonObject { ["port"] = p.Port, ["protocol"] = p.Protocol };
                if (p.Name is not null)
                {
                    port["name"] = p.Name;
                }

                port["targetPort"] = p.TargetPortName is not null ? JsonValue.Create(p.TargetPortName) : JsonValue.Create(p.TargetPort ?? p.Port);
                if (p.AppProtocol is not null)
                {
                    port["appProtocol"] = p.AppProtocol;
                }

                return port;
            }),
        };
        if (selector is not null)
        {
            spec["selector"] = Map(selector);
        }

        if (clusterIp is not null)
        {
            spec["clusterIP"] = clusterIp;
            spec["clusterIPs"] = new JsonArray(clusterIp);
        }

        return Object("v1", "Service", Metadata(name, ns, labels, annotations), spec);
    }

    // ---- Namespaces ----

    /// <summary>A Namespace, with the labels a listener's <c>allowedRoutes</c> selector reads.</summary>
    public static JsonObject Namespace(string name, IReadOnlyDictionary<string, string>? labels = null) =>
        Object("v1", "Namespace", Metadata(name, null, labels, null), new JsonObject());

    // ---- Pods ----

    /// <summary>A running Pod with its labels and <c>status.podIP</c> (what the pod proxy subresource forwards to).</summary>
    public static JsonObject Pod(string name, string ns, IReadOnlyDictionary<string, string> labels, string podIp)
    {
        var pod = Object("v1", "Pod", Metadata(name, ns, labels, null), new JsonObject { ["containers"] = new JsonArray(new JsonObject { ["name"] = "proxy", ["image"] = "lb-proxy" }) });
        pod["status"] = new JsonObject { ["phase"] = "Running", ["podIP"] = podIp };
        return pod;
    }

    // ---- Ingresses ----

    /// <summary>A Service backend: the port by number or by name.</summary>
    public sealed record IngressBackend(string Service, int? Port = null, string? PortName = null);

    /// <summary>A path; <paramref name="PathType"/> is Prefix, Exact or ImplementationSpecific (whose path may be null).</summary>
    public sealed record IngressPath(string? Path, IngressBackend Backend, string PathType = "Prefix");

    /// <summary>A rule; a null host matches every host.</summary>
    public sealed record IngressRule(string? Host, params IngressPath[] Paths);

    public sealed record IngressTls(string? SecretName, params string[] Hosts);

    public static JsonObject Ingress(
        string name, IngressRule[] rules, string ns = "default", string? ingressClassName = null, IngressBackend? defaultBackend = null,
        IngressTls[]? tls = null, IReadOnlyDictionary<string, string>? labels = null, IReadOnlyDictionary<string, string>? annotations = null)
    {
        var spec = new JsonObject();
        if (ingressClassName is not null)
        {
            spec["ingressClassName"] = ingressClassName;
        }

        if (defaultBackend is not null)
        {
            spec["defaultBackend"] = Backend(defaultBackend);
        }

        if (tls is not null)
        {
            spec["tls"] = Array(tls, t =>
            {
                var entry = new JsonObject { ["hosts"] = Strings(t.Hosts) };
                if (t.SecretName is not null)
                {
                    entry["secretName"] = t.SecretName;
                }

                return entry;
            });
        }

        spec["rules"] = Array(rules, r =>
        {
            var rule = new JsonObject();
            if (r.Host is not null)
            {
                rule["host"] = r.Host;
            }

            rule["http"] = new JsonObject
            {
                ["paths"] = Array(r.Paths, p =>
                {
                    var path = new JsonObject();
                    if (p.Path is not null)
                    {
                        path["path"] = p.Path;
                    }

                    path["pathType"] = p.PathType;
                    path["backend"] = Backend(p.Backend);
                    return path;
                }),
            };
            return rule;
        });
        return Object("networking.k8s.io/v1", "Ingress", Metadata(name, ns, labels, annotations), spec);
    }

    /// <summary>An Ingress status: each address is an IP when it parses as one, a hostname otherwise.</summary>
    public static JsonObject IngressStatus(params string[] addresses) => new()
    {
        ["loadBalancer"] = new JsonObject
        {
            ["ingress"] = Array(addresses, a => System.Net.IPAddress.TryParse(a, out _) ? new JsonObject { ["ip"] = a } : new JsonObject { ["hostname"] = a }),
        },
    };

    public static JsonObject IngressClass(string name, string controller, bool isDefault = false)
    {
        var annotations = isDefault ? new Dictionary<string, string> { ["ingressclass.kubernetes.io/is-default-class"] = "true" } : null;
        return Object("networking.k8s.io/v1", "IngressClass", Metadata(name, null, null, annotations), new JsonObject { ["controller"] = controller });
    }

    // ---- Gateway API ----

    public static JsonObject GatewayClass(string name, string controllerName, string? description = null)
    {
        var spec = new JsonObject { ["controllerName"] = controllerName };
        if (description is not null)
        {
            spec["description"] = description;
        }

        return Object(GatewayGroup + "/v1", "GatewayClass", Metadata(name, null, null, null), spec);
    }

    /// <summary>Which routes a listener admits: <paramref name="From"/> is Same, All or Selector (with <paramref name="NamespaceLabels"/>); <paramref name="Kinds"/> null: the protocol's default.</summary>
    public sealed record AllowedRoutes(string From = "Same", IReadOnlyDictionary<string, string>? NamespaceLabels = null, string[]? Kinds = null);

    /// <summary>A listener; <paramref name="CertificateRefs"/> (Secret names) give it TLS in Terminate mode.</summary>
    public sealed record Listener(string Name, int Port, string Protocol = "HTTP", string? Hostname = null, AllowedRoutes? AllowedRoutes = null, string[]? CertificateRefs = null);

    public static JsonObject Gateway(string name, string gatewayClassName, Listener[] listeners, string ns = "default", IReadOnlyDictionary<string, string>? labels = null)
    {
        var spec = new JsonObject
        {
            ["gatewayClassName"] = gatewayClassName,
            ["listeners"] = Array(listeners, l =>
            {
                var listener = new JsonObject { ["name"] = l.Name, ["port"] = l.Port, ["protocol"] = l.Protocol };
                if (l.Hostname is not null)
                {
                    listener["hostname"] = l.Hostname;
                }

                var allowed = l.AllowedRoutes ?? new AllowedRoutes();
                var namespaces = new JsonObject { ["from"] = allowed.From };
                if (allowed.NamespaceLabels is not null)
                {
                    namespaces["selector"] = new JsonObject { ["matchLabels"] = Map(allowed.NamespaceLabels) };
                }

                listener["allowedRoutes"] = new JsonObject { ["namespaces"] = namespaces };
                if (allowed.Kinds is not null)
                {
                    listener["allowedRoutes"]!["kinds"] = Array(allowed.Kinds, k => new JsonObject { ["group"] = GatewayGroup, ["kind"] = k });
                }

                if (l.CertificateRefs is not null)
                {
                    listener["tls"] = new JsonObject
                    {
                        ["mode"] = "Terminate",
                        ["certificateRefs"] = Array(l.CertificateRefs, s => new JsonObject { ["group"] = "", ["kind"] = "Secret", ["name"] = s }),
                    };
                }

                return listener;
            }),
        };
        return Object(GatewayGroup + "/v1", "Gateway", Metadata(name, ns, labels, null), spec);
    }

    /// <summary>A route's parent: a Gateway, optionally one listener (<paramref name="SectionName"/>) or port.</summary>
    public sealed record ParentRef(string Name, string? Namespace = null, string? SectionName = null, int? Port = null);

    /// <summary>A request match. <paramref name="PathType"/>: PathPrefix, Exact or RegularExpression; header and query matches are Exact.</summary>
    public sealed record RouteMatch(
        string? Path = "/", string PathType = "PathPrefix", IReadOnlyDictionary<string, string>? Headers = null,
        IReadOnlyDictionary<string, string>? QueryParams = null, string? Method = null);

    /// <summary>A Service backend with a weight.</summary>
    public sealed record BackendRef(string Name, int Port, int Weight = 1, string? Namespace = null);

    /// <summary>A rule: matches (none: the default PathPrefix "/"), filters (see the filter builders), backends.</summary>
    public sealed record RouteRule(RouteMatch[]? Matches = null, BackendRef[]? BackendRefs = null, JsonObject[]? Filters = null);

    public static JsonObject HttpRoute(string name, ParentRef[] parents, RouteRule[] rules, string[]? hostnames = null, string ns = "default")
    {
        var spec = new JsonObject
        {
            ["parentRefs"] = Array(parents, p =>
            {
                var parent = new JsonObject { ["group"] = GatewayGroup, ["kind"] = "Gateway", ["name"] = p.Name };
                if (p.Namespace is not null)
                {
                    parent["namespace"] = p.Namespace;
                }

                if (p.SectionName is not null)
                {
                    parent["sectionName"] = p.SectionName;
                }

                if (p.Port is { } port)
                {
                    parent["port"] = port;
                }

                return parent;
            }),
        };
        if (hostnames is not null)
        {
            spec["hostnames"] = Strings(hostnames);
        }

        spec["rules"] = Array(rules, r =>
        {
            var rule = new JsonObject { ["matches"] = Array(r.Matches ?? [new RouteMatch()], Match) };
            if (r.Filters is not null)
            {
                rule["filters"] = Array(r.Filters, f => (JsonObject)f.DeepClone());
            }

            if (r.BackendRefs is not null)
            {
                rule["backendRefs"] = Array(r.BackendRefs, b =>
                {
                    var backend = new JsonObject { ["group"] = "", ["kind"] = "Service", ["name"] = b.Name, ["port"] = b.Port, ["weight"] = b.Weight };
                    if (b.Namespace is not null)
                    {
                        backend["namespace"] = b.Namespace;
                    }

                    return backend;
                });
            }

            return rule;
        });
        return Object(GatewayGroup + "/v1", "HTTPRoute", Metadata(name, ns, null, null), spec);
    }

    /// <summary>A gRPC call match: service and/or method (<paramref name="Type"/> Exact or RegularExpression; neither: no method match), and Exact header matches.</summary>
    public sealed record GrpcMatch(string? Service = null, string? Method = null, string Type = "Exact", IReadOnlyDictionary<string, string>? Headers = null);

    /// <summary>A GRPCRoute rule: matches (none: every call), filters, backends.</summary>
    public sealed record GrpcRule(GrpcMatch[]? Matches = null, BackendRef[]? BackendRefs = null, JsonObject[]? Filters = null);

    /// <summary>A GRPCRoute: parents, hostnames and backends as <see cref="HttpRoute"/> writes them, with gRPC matches.</summary>
    public static JsonObject GrpcRoute(string name, ParentRef[] parents, GrpcRule[] rules, string[]? hostnames = null, string ns = "default")
    {
        var route = HttpRoute(name, parents, [.. rules.Select(r => new RouteRule(null, r.BackendRefs, r.Filters))], hostnames, ns);
        route["kind"] = "GRPCRoute";
        var written = route["spec"]!["rules"]!.AsArray();
        for (var i = 0; i < rules.Length; i++)
        {
            var rule = written[i]!.AsObject();
            rule.Remove("matches");
            if (rules[i].Matches is { } matches)
            {
                rule["matches"] = Array(matches, m =>
                {
                    var match = new JsonObject();
                    if (m.Service is not null || m.Method is not null)
                    {
                        var method = new JsonObject { ["type"] = m.Type };
                        Put(method, "service", m.Service);
                        Put(method, "method", m.Method);
                        match["method"] = method;
                    }

                    if (m.Headers is not null)
                    {
                        match["headers"] = Array(m.Headers, h => new JsonObject { ["type"] = "Exact", ["name"] = h.Key, ["value"] = h.Value });
                    }

                    return match;
                });
            }
        }

        return route;
    }

    public static JsonObject RequestHeaderModifier(IReadOnlyDictionary<string, string>? set = null, IReadOnlyDictionary<string, string>? add = null, string[]? remove = null) =>
        HeaderFilter("RequestHeaderModifier", "requestHeaderModifier", set, add, remove);

    public static JsonObject ResponseHeaderModifier(IReadOnlyDictionary<string, string>? set = null, IReadOnlyDictionary<string, string>? add = null, string[]? remove = null) =>
        HeaderFilter("ResponseHeaderModifier", "responseHeaderModifier", set, add, remove);

    public static JsonObject RequestRedirect(string? scheme = null, string? hostname = null, int? port = null, int statusCode = 302, string? replaceFullPath = null)
    {
        var redirect = new JsonObject();
        Put(redirect, "scheme", scheme);
        Put(redirect, "hostname", hostname);
        if (port is { } p)
        {
            redirect["port"] = p;
        }

        if (replaceFullPath is not null)
        {
            redirect["path"] = new JsonObject { ["type"] = "ReplaceFullPath", ["replaceFullPath"] = replaceFullPath };
        }

        redirect["statusCode"] = statusCode;
        return new JsonObject { ["type"] = "RequestRedirect", ["requestRedirect"] = redirect };
    }

    /// <summary>A URLRewrite: a new hostname, and/or the matched prefix replaced (or the whole path, with <paramref name="fullPath"/>).</summary>
    public static JsonObject UrlRewrite(string? hostname = null, string? replacePrefixMatch = null, string? fullPath = null)
    {
        var rewrite = new JsonObject();
        Put(rewrite, "hostname", hostname);
        if (replacePrefixMatch is not null)
        {
            rewrite["path"] = new JsonObject { ["type"] = "ReplacePrefixMatch", ["replacePrefixMatch"] = replacePrefixMatch };
        }
        else if (fullPath is not null)
        {
            rewrite["path"] = new JsonObject { ["type"] = "ReplaceFullPath", ["replaceFullPath"] = fullPath };
        }

        return new JsonObject { ["type"] = "URLRewrite", ["urlRewrite"] = rewrite };
    }

    /// <summary>A ReferenceGrant in <paramref name="ns"/> letting <paramref name="from"/> (HTTPRoutes of a namespace, say) refer to <paramref name="to"/> (Services, optionally one by name).</summary>
    public static JsonObject ReferenceGrant(string name, string ns, (string Group, string Kind, string Namespace)[] from, (string Group, string Kind, string? Name)[] to)
    {
        var spec = new JsonObject
        {
            ["from"] = Array(from, f => new JsonObject { ["group"] = f.Group, ["kind"] = f.Kind, ["namespace"] = f.Namespace }),
            ["to"] = Array(to, t =>
            {
                var target = new JsonObject { ["group"] = t.Group, ["kind"] = t.Kind };
                Put(target, "name", t.Name);
                return target;
            }),
        };
        return Object(GatewayGroup + "/v1beta1", "ReferenceGrant", Metadata(name, ns, null, null), spec);
    }

    /// <summary>A status condition as Gateway API and Kubernetes write them.</summary>
    public static JsonObject Condition(string type, bool status, string reason, long observedGeneration, string message = "") => new()
    {
        ["type"] = type,
        ["status"] = status ? "True" : "False",
        ["reason"] = reason,
        ["message"] = message,
        ["observedGeneration"] = observedGeneration,
        ["lastTransitionTime"] = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
    };

    // ---- Leases ----

    public static JsonObject Lease(string name, string holder, int leaseDurationSeconds = 15, string ns = "default")
    {
        var now = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
        var spec = new JsonObject
        {
            ["holderIdentity"] = holder,
            ["leaseDurationSeconds"] = leaseDurationSeconds,
            ["acquireTime"] = now,
            ["renewTime"] = now,
            ["leaseTransitions"] = 0,
        };
        return Object("coordination.k8s.io/v1", "Lease", Metadata(name, ns, null, null), spec);
    }

    // ---- Helpers ----

    private static JsonObject Object(string apiVersion, string kind, JsonObject metadata, JsonObject spec) =>
        new() { ["apiVersion"] = apiVersion, ["kind"] = kind, ["metadata"] = metadata, ["spec"] = spec };

    private static JsonObject Metadata(string name, string? ns, IReadOnlyDictionary<string, string>? labels, IReadOnlyDictionary<string, string>? annotations)
    {
        var metadata = new JsonObject { ["name"] = name };
        Put(metadata, "namespace", ns);
        if (labels is not null)
        {
            metadata["labels"] = Map(labels);
        }

        if (annotations is not null)
        {
            metadata["annotations"] = Map(annotations);
        }

        return metadata;
    }

    private static JsonObject Backend(IngressBackend backend) => new()
    {
        ["service"] = new JsonObject
        {
            ["name"] = backend.Service,
            ["port"] = backend.PortName is not null ? new JsonObject { ["name"] = backend.PortName } : new JsonObject { ["number"] = backend.Port ?? 80 },
        },
    };

    private static JsonObject Match(RouteMatch m)
    {
        var match = new JsonObject();
        if (m.Path is not null)
        {
            match["path"] = new JsonObject { ["type"] = m.PathType, ["value"] = m.Path };
        }

        if (m.Headers is not null)
        {
            match["headers"] = Array(m.Headers, h => new JsonObject { ["type"] = "Exact", ["name"] = h.Key, ["value"] = h.Value });
        }

        if (m.QueryParams is not null)
        {
            match["queryParams"] = Array(m.QueryParams, q => new JsonObject { ["type"] = "Exact", ["name"] = q.Key, ["value"] = q.Value });
        }

        Put(match, "method", m.Method);
        return match;
    }

    private static JsonObject HeaderFilter(string type, string field, IReadOnlyDictionary<string, string>? set, IReadOnlyDictionary<string, string>? add, string[]? remove)
    {
        static JsonArray Headers(IReadOnlyDictionary<string, string> headers) => Array(headers, h => new JsonObject { ["name"] = h.Key, ["value"] = h.Value });
        var modifier = new JsonObject();
        if (set is not null)
        {
            modifier["set"] = Headers(set);
        }

        if (add is not null)
        {
            modifier["add"] = Headers(add);
        }

        if (remove is not null)
        {
            modifier["remove"] = Strings(remove);
        }

        return new JsonObject { ["type"] = type, [field] = modifier };
    }

    private static void Put(JsonObject obj, string key, string? value)
    {
        if (value is not null)
        {
            obj[key] = value;
        }
    }

    private static JsonObject Map(IReadOnlyDictionary<string, string> values) => new([.. values.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]);

    private static JsonArray Strings(IEnumerable<string> values) => new([.. values.Select(v => (JsonNode)v)]);

    private static JsonArray Array<T>(IEnumerable<T> values, Func<T, JsonObject> build) => new([.. values.Select(v => (JsonNode)build(v))]);
}
