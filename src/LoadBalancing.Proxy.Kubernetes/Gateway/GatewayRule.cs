using LoadBalancing.Proxy.Kubernetes.Gateway.Model;

namespace LoadBalancing.Proxy.Kubernetes.Gateway;

/// <summary>
/// One HTTPRoute or GRPCRoute rule, understood once and stamped into a route per match and listener group by
/// <see cref="Build"/>. A rule using something the proxy cannot do (an unsupported filter, a bad duration) is
/// invalid: its matches answer 500 (503 for gRPC: UNAVAILABLE) rather than being skipped, as the spec asks for
/// filters that cannot be applied. A GRPCRoute's method matches become path matches (<see cref="GrpcMatches"/>).
/// </summary>
internal sealed class GatewayRule
{
    private static readonly HttpRouteMatch DefaultMatch = new() { Path = new HttpPathMatch { Type = "PathPrefix", Value = "/" } };

    private readonly GatewayRouteKind _kind;

    private readonly List<WeightedClusterOptions> _backends = [];
    private HttpHeaderFilter? _requestHeaders;
    private HttpHeaderFilter? _responseHeaders;
    private HttpRequestRedirectFilter? _redirect;
    private HttpUrlRewriteFilter? _rewrite;
    private TimeSpan? _requestTimeout;
    private TimeSpan? _backendTimeout;

    private GatewayRule(GatewayRouteKind kind, IReadOnlyList<HttpRouteMatch> matches)
    {
        _kind = kind;
        Matches = matches;
    }

    public IReadOnlyList<HttpRouteMatch> Matches { get; }

    /// <summary>For a GRPCRoute rule, each match's precedence (exact service and method characters); null for HTTPRoute.</summary>
    public IReadOnlyList<GrpcPrecedence>? Precedence { get; private init; }

    /// <summary>Why the rule cannot be programmed as written (its matches answer 500); null when it can.</summary>
    public string? Invalid { get; private set; }

    /// <summary>The Accepted reason for <see cref="Invalid"/>: UnsupportedValue or IncompatibleFilters.</summary>
    public string InvalidReason { get; private set; } = GatewayConditions.UnsupportedValue;

    /// <summary>backendRefs that could not be resolved.</summary>
    public List<BackendProblem> BackendProblems { get; } = [];

    /// <summary>Why a backend Service's annotated balancing policy was not applied (it routes with the defaults).</summary>
    public List<string> PolicyProblems { get; } = [];

    /// <summary>Whether some backends were dropped while others remain (the spec wants their share answered 500).</summary>
    public bool PartlyUnresolved { get; private set; }

    public static GatewayRule Read(HttpRouteRule rule, string routeNamespace, GatewayBackends backends)
    {
        var result = new GatewayRule(GatewayRouteKind.Http, rule.Matches is { Count: > 0 } matches ? matches : [DefaultMatch]);
        result.Read(rule.Filters, rule.BackendRefs, routeNamespace, backends);
        if (rule.Timeouts is { } timeouts)
        {
            result._requestTimeout = result.Duration(timeouts.Request, "timeouts.request");
            result._backendTimeout = result.Duration(timeouts.BackendRequest, "timeouts.backendRequest");
        }

        return result;
    }

    public static GatewayRule Read(GrpcRouteRule rule, string routeNamespace, GatewayBackends backends)
    {
        var (matches, precedence, problems) = GrpcMatches.ToPaths(rule.Matches);
        var result = new GatewayRule(GatewayRouteKind.Grpc, matches.Count > 0 ? matches : [DefaultMatch])
        {
            Precedence = precedence.Count > 0 ? precedence : [default],
        };
        foreach (var problem in problems)
        {
            result.MarkInvalid(GatewayConditions.UnsupportedValue, problem);
        }

        result.Read(rule.Filters, rule.BackendRefs, routeNamespace, backends);
        return result;
    }

    private void Read(IReadOnlyList<HttpRouteFilter>? filters, IReadOnlyList<HttpBackendRef>? backendRefs, string routeNamespace, GatewayBackends backends)
    {
        foreach (var match in Matches)
        {
            if (match.Path?.Type is not (null or "PathPrefix" or "Exact" or "RegularExpression"))
            {
                MarkInvalid(GatewayConditions.UnsupportedValue, $"path match type {match.Path.Type} is not supported.");
            }

            foreach (var value in (match.Headers ?? []).Concat(match.QueryParams ?? []))
            {
                if (value.Type is not (null or "Exact" or "RegularExpression"))
                {
                    MarkInvalid(GatewayConditions.UnsupportedValue, $"match type {value.Type} ({value.Name}) is not supported.");
                }
            }
        }

        foreach (var filter in filters ?? [])
        {
            Filter(filter);
        }

        if (_redirect is not null && _rewrite is not null)
        {
            MarkInvalid(GatewayConditions.IncompatibleFilters, "RequestRedirect and URLRewrite cannot be combined.");
        }

        var refs = backendRefs ?? [];
        var valid = 0;
        foreach (var backend in refs)
        {
            if (backend.Filters is { Count: > 0 })
            {
                // Per-backend filters are implementation-specific and the proxy's routes cannot carry them per split.
                MarkInvalid(GatewayConditions.UnsupportedValue, $"backendRef {backend.Name}: filters on a backendRef are not supported.");
            }

            var cluster = backends.Resolve(backend, routeNamespace, _kind, out var problem);
            if (problem is not null)
            {
                BackendProblems.Add(problem);
                continue;
            }

            valid++;
            if (backends.PolicyProblem(cluster!) is { } policy && !PolicyProblems.Contains(policy))
            {
                PolicyProblems.Add(policy);
            }

            var weight = backend.Weight ?? 1;
            if (weight > 0 && !_backends.Any(b => b.Cluster == cluster))
            {
                _backends.Add(new WeightedClusterOptions { Cluster = cluster!, Weight = weight });
            }
            else if (weight > 0)
            {
                // Two refs to one Service port: one backend with both weights, the share the spec means.
                _backends.First(b => b.Cluster == cluster).Weight += weight;
            }
        }

        PartlyUnresolved = valid > 0 && BackendProblems.Count > 0 && _backends.Count > 0;
    }

    /// <summary>
    /// The route for one match on one listener group; <paramref name="failed"/> makes it answer 500 (used when the
    /// proxy's validation rejects the full route).
    /// </summary>
    public ProxyRouteOptions Build(int match, string name, IReadOnlyList<string> hosts, IReadOnlyList<int> ports, bool failed = false)
    {
        var m = Matches[match];
        var route = new ProxyRouteOptions { Name = name };
        foreach (var host in hosts)
        {
            route.Hosts.Add(host);
        }

        foreach (var port in ports)
        {
            route.Ports.Add(port);
        }

        var pathType = m.Path?.Type ?? "PathPrefix";
        route.Path = m.Path?.Value ?? "/";
        route.PathType = pathType switch
        {
            "Exact" => PathMatchType.Exact,
            "RegularExpression" => PathMatchType.RegularExpression,
            _ => PathMatchType.Prefix,
        };
        if (!string.IsNullOrEmpty(m.Method))
        {
            route.Methods.Add(m.Method);
        }

        foreach (var header in m.Headers ?? [])
        {
            route.Headers.Add(Value(header));
        }

        foreach (var query in m.QueryParams ?? [])
        {
            route.QueryParameters.Add(Value(query));
        }

        if (failed || Invalid is not null || (_redirect is null && _backends.Count == 0))
        {
            route.DirectResponse = new DirectResponseOptions { StatusCode = _kind.FailureStatus, Body = $"no valid backend or filter for this {_kind.Kind} rule\n" };
            return route;
        }

        route.ResponseHeaders = Modifier(_responseHeaders);
        if (_redirect is { } redirect)
        {
            route.Redirect = new RedirectOptions
            {
                Scheme = redirect.Scheme,
                Hostname = redirect.Hostname,
                Port = redirect.Port,
                StatusCode = redirect.StatusCode ?? 302,
                ReplaceFullPath = redirect.Path?.Type == "ReplaceFullPath" ? redirect.Path.ReplaceFullPath : null,
                ReplacePrefixMatch = redirect.Path?.Type == "ReplacePrefixMatch" ? redirect.Path.ReplacePrefixMatch : null,
            };
            return route;
        }

        if (_backends.Count == 1)
        {
            route.Cluster = _backends[0].Cluster;
        }
        else
        {
            foreach (var backend in _backends)
            {
                route.Backends.Add(new WeightedClusterOptions { Cluster = backend.Cluster, Weight = backend.Weight });
            }
        }

        route.RequestHeaders = Modifier(_requestHeaders);
        if (_rewrite is { } rewrite)
        {
            route.Rewrite = new UrlRewriteOptions
            {
                Hostname = rewrite.Hostname,
                ReplaceFullPath = rewrite.Path?.Type == "ReplaceFullPath" ? rewrite.Path.ReplaceFullPath : null,
                ReplacePrefixMatch = rewrite.Path?.Type == "ReplacePrefixMatch" ? rewrite.Path.ReplacePrefixMatch : null,
            };
        }

        if (_requestTimeout is not null || _backendTimeout is not null)
        {
            // backendRequest bounds one attempt; the proxy's nearest per-attempt bound is the wait for response headers.
            route.Timeouts = new RouteTimeoutOptions { Request = _requestTimeout, ResponseHeader = _backendTimeout };
        }

        return route;
    }

    private void Filter(HttpRouteFilter filter)
    {
        if (_kind == GatewayRouteKind.Grpc && filter.Type is "RequestRedirect" or "URLRewrite")
        {
            MarkInvalid(GatewayConditions.UnsupportedValue, $"filter type {filter.Type} is not a GRPCRoute filter.");
            return;
        }

        switch (filter.Type)
        {
            case "RequestHeaderModifier" when filter.RequestHeaderModifier is { } modifier:
                _requestHeaders = modifier;
                break;
            case "ResponseHeaderModifier" when filter.ResponseHeaderModifier is { } modifier:
                _responseHeaders = modifier;
                break;
            case "RequestRedirect" when filter.RequestRedirect is { } redirect:
                _redirect = redirect;
                break;
            case "URLRewrite" when filter.UrlRewrite is { } rewrite:
                _rewrite = rewrite;
                break;
            default:
                MarkInvalid(GatewayConditions.UnsupportedValue, $"filter type {filter.Type ?? "(none)"} is not supported{(filter.Type is "RequestHeaderModifier" or "ResponseHeaderModifier" or "RequestRedirect" or "URLRewrite" ? " without its settings" : "")}.");
                break;
        }
    }

    private TimeSpan? Duration(string? text, string field)
    {
        if (text is null)
        {
            return null;
        }

        if (!GatewayDuration.TryParse(text, out var duration))
        {
            MarkInvalid(GatewayConditions.UnsupportedValue, $"{field} '{text}' is not a Gateway API duration.");
            return null;
        }

        // Zero disables the timeout: leaving it unset does that for Request; for backendRequest the cluster's applies.
        return duration == TimeSpan.Zero ? null : duration;
    }

    private void MarkInvalid(string reason, string message)
    {
        if (Invalid is null)
        {
            InvalidReason = reason;
            Invalid = message;
        }
        else
        {
            Invalid += " " + message;
        }
    }

    private static ValueMatchOptions Value(HttpValueMatch match) => new()
    {
        Name = match.Name ?? "",
        Value = match.Value,
        Type = match.Type == "RegularExpression" ? ValueMatchType.RegularExpression : ValueMatchType.Exact,
    };

    private static HeaderModifierOptions? Modifier(HttpHeaderFilter? filter)
    {
        if (filter is null)
        {
            return null;
        }

        var options = new HeaderModifierOptions();
        foreach (var header in filter.Set ?? [])
        {
            options.Set.Add(new HeaderValueOptions { Name = header.Name ?? "", Value = header.Value ?? "" });
        }

        foreach (var header in filter.Add ?? [])
        {
            options.Add.Add(new HeaderValueOptions { Name = header.Name ?? "", Value = header.Value ?? "" });
        }

        foreach (var name in filter.Remove ?? [])
        {
            options.Remove.Add(name);
        }

        return options;
    }
}
