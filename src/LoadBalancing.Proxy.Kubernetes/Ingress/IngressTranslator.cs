using k8s.Models;
using LoadBalancing.Proxy.Kubernetes.Backends;

namespace LoadBalancing.Proxy.Kubernetes.Ingress;

/// <summary>Why part of an Ingress was not turned into a route.</summary>
internal sealed record IngressProblem(string Ingress, string Problem);

/// <summary>
/// The proxy's listener ports by kind: where plain HTTP and where TLS arrives. Null when a port is chosen at start
/// (port 0), so not known when routes are built.
/// </summary>
internal sealed record IngressListeners(IReadOnlySet<int> Cleartext, IReadOnlySet<int> Tls);

/// <summary>The routes and clusters our Ingresses make, and what could not be used.</summary>
internal sealed record IngressTranslation(ProxyRouteSet Set, IReadOnlyList<IngressProblem> Problems, IReadOnlyList<string> Admitted);

/// <summary>
/// Turns the Ingresses of our class into routes and clusters. Each backend Service port becomes a cluster fed by
/// EndpointSlice discovery (never the Service IP); a Service port named by number is mapped to the name its
/// EndpointSlices carry through the Service object. Older Ingresses win a path two of them claim (as Gateway API
/// orders routes); a path whose backend cannot be resolved answers 503 rather than falling through to another route.
/// One Ingress's mistakes never keep another's routes out.
/// </summary>
/// <remarks>
/// Host wildcards (<c>*.example.com</c>) match any number of labels before the suffix, as ingress-nginx's server
/// names do (the Ingress API text says one label); <c>ImplementationSpecific</c> paths match as <c>Prefix</c>.
/// As in ingress-nginx, a path of a host the Ingress's <c>spec.tls</c> names is served over TLS only: on the plain-HTTP
/// listeners it answers a 308 redirect to <c>https</c> (<c>ssl-redirect: "false"</c> turns that off,
/// <c>force-ssl-redirect: "true"</c> extends it to every host), when the proxy has listeners of both kinds.
/// </remarks>
internal static class IngressTranslator
{
    public const string ClusterPrefix = "ingress:";

    public static IngressTranslation Translate(
        IEnumerable<V1Ingress> ingresses, IngressClassSelector selector, IEnumerable<V1Service> services, ClusterOptions? clusterDefaults = null,
        IngressListeners? listeners = null)
    {
        // Redirecting needs somewhere to redirect to and something to redirect from.
        var redirecting = listeners is { Cleartext.Count: > 0, Tls.Count: > 0 } ? listeners : null;
        var backends = new ServiceClusters(services, ClusterPrefix, clusterDefaults);
        var routes = new List<ProxyRouteOptions>();
        var problems = new List<IngressProblem>();
        var admitted = new List<string>();
        var claimed = new Dictionary<string, string>(StringComparer.Ordinal);

        // Oldest first: an older Ingress keeps a path a newer one also claims.
        var ordered = ingresses
            .Where(selector.IsOurs)
            .OrderBy(i => i.Metadata?.CreationTimestamp ?? DateTime.MaxValue)
            .ThenBy(i => Key(i), StringComparer.Ordinal);
        foreach (var ingress in ordered)
        {
            var key = Key(ingress);
            var origin = new RouteOrigin("Ingress", ingress.Metadata?.NamespaceProperty ?? "default", ingress.Metadata?.Name ?? "") { ResourceVersion = ingress.Metadata?.ResourceVersion };
            var ns = ingress.Metadata?.NamespaceProperty ?? "default";
            var before = routes.Count;
            var nginx = NginxAnnotations.Read(ingress.Metadata?.Annotations);
            problems.AddRange(nginx.Problems.Select(p => new IngressProblem(key, p)));
            var reported = new HashSet<string>(StringComparer.Ordinal);
            var rules = ingress.Spec?.Rules ?? [];
            for (var r = 0; r < rules.Count; r++)
            {
                var rule = rules[r];
                var host = string.IsNullOrEmpty(rule.Host) ? "*" : rule.Host.ToLowerInvariant();
                var paths = rule.Http?.Paths ?? [];
                for (var p = 0; p < paths.Count; p++)
                {
                    var path = paths[p];
                    var where = $"rules[{r}].http.paths[{p}]";
                    var pathText = string.IsNullOrEmpty(path.Path) ? "/" : path.Path;
                    if (pathText[0] != '/')
                    {
                        problems.Add(new(key, $"{where}: path '{pathText}' does not start with '/'; skipped."));
                        continue;
                    }

                    var pathType = string.Equals(path.PathType, "Exact", StringComparison.Ordinal) ? PathMatchType.Exact : PathMatchType.Prefix;
                    var route = new ProxyRouteOptions { Name = $"ingress:{key}:{r}:{p}", Path = pathText, PathType = pathType, Origin = origin };
                    var unsupported = nginx.Shape(route);
                    var match = $"{host}|{route.PathType}|{(route.PathType == PathMatchType.Prefix && route.Path.Length > 1 ? route.Path.TrimEnd('/') : route.Path)}";
                    if (claimed.TryGetValue(match, out var owner))
                    {
                        problems.Add(new(key, $"{where}: host '{host}' path '{pathText}' is already routed by the older Ingress {owner}; skipped."));
                        continue;
                    }

                    if (host != "*")
                    {
                        route.Hosts.Add(host);
                    }

                    if (unsupported is not null || nginx.RewriteRefused || nginx.BackendRefused)
                    {
                        // Sent on without the rewrite or the match ingress-nginx would apply, it would reach the wrong path.
                        if (unsupported is not null)
                        {
                            problems.Add(new(key, $"{where}: {unsupported}; the path answers 503."));
                        }

                        route.Rewrite = null;
                        route.DirectResponse = new DirectResponseOptions { StatusCode = 503, Body = "this Ingress path uses an annotation the proxy does not support\n" };
                    }
                    else
                    {
                        Target(route, path.Backend, ns, backends, nginx, key, where, problems, reported);
                    }

                    if (ProxyRouteSet.Check(route, backends.Clusters) is { Count: > 0 } errors)
                    {
                        // The API server validates Ingresses less strictly than the proxy does its routes.
                        problems.Add(new(key, $"{where}: the proxy cannot route it ({string.Join(" ", errors)}); skipped."));
                        continue;
                    }

                    claimed[match] = key;
                    if (redirecting is not null && (nginx.RedirectAllHosts || (nginx.RedirectTlsHosts && TlsHost(ingress, host))))
                    {
                        routes.Add(HttpsRedirect(route, redirecting.Cleartext));
                        Only(route, redirecting.Tls);
                    }

                    routes.Add(route);
                }
            }

            if (ingress.Spec?.DefaultBackend is { } fallback)
            {
                const string Match = "*|Prefix|/";
                if (claimed.TryGetValue(Match, out var owner))
                {
                    problems.Add(new(key, $"defaultBackend: the older Ingress {owner} already routes every other request; skipped."));
                }
                else
                {
                    var route = new ProxyRouteOptions { Name = $"ingress:{key}:default", Path = "/", Origin = origin };
                    Target(route, fallback, ns, backends, nginx, key, "defaultBackend", problems, reported);
                    claimed[Match] = key;
                    routes.Add(route);
                }
            }

            if (routes.Count > before)
            {
                admitted.Add(key);
            }
        }

        return new IngressTranslation(new ProxyRouteSet(routes, backends.Clusters), problems, admitted);
    }

    private static void Target(
        ProxyRouteOptions route, V1IngressBackend? backend, string ns, ServiceClusters backends, NginxAnnotations nginx, string ingress, string where,
        List<IngressProblem> problems, HashSet<string> reported)
    {
        string? problem;
        if (backend?.Service is not { Name: { Length: > 0 } serviceName } service)
        {
            problem = backend?.Resource is not null ? "resource backends are not supported" : "no backend service";
        }
        else if (backends.Find(ns, serviceName) is not { } found)
        {
            problem = $"Service {ns}/{serviceName} does not exist";
        }
        else if (backends.ClusterFor(found, service.Port?.Name, service.Port?.Number, out problem) is { } cluster)
        {
            if (backends.PolicyProblem(cluster) is { } policy && reported.Add(policy))
            {
                problems.Add(new(ingress, policy));
            }

            if (nginx.Cluster is { } change)
            {
                // Settings of this Ingress only: its own copy of the Service's cluster, never shared with another Ingress.
                cluster = backends.Derive(cluster, ingress, change, out var refused);
                if (refused.Count > 0 && reported.Add(cluster))
                {
                    problems.Add(new(ingress, $"the proxy refuses the balancing annotations for {cluster} ({string.Join(" ", refused)}); it routes with the Service's cluster."));
                }
            }

            route.Cluster = cluster;
            if (nginx.ResponseHeaderTimeout is { } timeout)
            {
                route.Timeouts = new RouteTimeoutOptions { ResponseHeader = timeout };
            }

            return;
        }

        problems.Add(new(ingress, $"{where}: {problem}; the path answers 503."));
        route.Rewrite = null;
        route.DirectResponse = new DirectResponseOptions { StatusCode = 503, Body = "no backend for this Ingress path\n" };
    }

    /// <summary>Whether <c>spec.tls</c> names <paramref name="host"/> (exactly, or by a one-label wildcard); an entry without hosts names every host.</summary>
    private static bool TlsHost(V1Ingress ingress, string host) =>
        (ingress.Spec?.Tls ?? []).Any(tls => tls.Hosts is not { Count: > 0 } hosts || hosts.Any(h =>
            string.Equals(h, host, StringComparison.OrdinalIgnoreCase)
            || (h.StartsWith("*.", StringComparison.Ordinal) && host.EndsWith(h[1..], StringComparison.OrdinalIgnoreCase) && host.IndexOf('.', StringComparison.Ordinal) == host.Length - h.Length + 1)));

    /// <summary>The same match on the plain-HTTP ports, answering 308 to the same URL over https (default port), as ingress-nginx's ssl-redirect.</summary>
    private static ProxyRouteOptions HttpsRedirect(ProxyRouteOptions route, IReadOnlySet<int> ports)
    {
        var redirect = new ProxyRouteOptions
        {
            Name = route.Name + ":https-redirect",
            Path = route.Path,
            PathType = route.PathType,
            Origin = route.Origin,
            Redirect = new RedirectOptions { Scheme = "https", StatusCode = 308 },
        };
        foreach (var host in route.Hosts)
        {
            redirect.Hosts.Add(host);
        }

        Only(redirect, ports);
        return redirect;
    }

    private static void Only(ProxyRouteOptions route, IReadOnlySet<int> ports)
    {
        foreach (var port in ports.Order())
        {
            route.Ports.Add(port);
        }
    }

    private static string Key(V1Ingress ingress) => $"{ingress.Metadata?.NamespaceProperty ?? "default"}/{ingress.Metadata?.Name}";
}
