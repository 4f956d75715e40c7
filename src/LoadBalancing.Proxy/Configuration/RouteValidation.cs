using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using LoadBalancing.Proxy.Forwarding;
using LoadBalancing.Proxy.Routing;

namespace LoadBalancing.Proxy;

/// <summary>Checks the routes of <see cref="ProxyOptions"/> and names the key of every problem.</summary>
internal static class RouteValidation
{
    public const int MaxDirectBodyBytes = 64 * 1024;

    private static readonly int[] RedirectCodes = [301, 302, 303, 307, 308];

    // Headers the proxy frames or controls itself: a route cannot set them on a request.
    private static readonly string[] ResponseControlled = ["Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Proxy-Connection", "Upgrade", "Trailer", "TE"];

    public static void Check(ProxyOptions options, string prefix, List<string> errors)
    {
        // With no clusters either, the routes come from route sources (a Kubernetes controller); the merge with the
        // sources, which knows whether any is registered, refuses a proxy that would have nothing to route at all.
        if (options.Routes.Count == 0 && options.Clusters.Count > 0)
        {
            errors.Add($"{prefix}:Routes: at least one route is needed (for example {{ \"Path\": \"/\", \"Cluster\": \"web\" }}).");
        }

        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        var matches = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Routes.Count; i++)
        {
            var route = options.Routes[i];
            var key = $"{prefix}:Routes:{i}";
            CheckRoute(route, key, options, errors);
            if (!string.IsNullOrEmpty(route.Name) && !names.TryAdd(route.Name, key))
            {
                errors.Add($"{key}:Name: '{route.Name}' is also the name of {names[route.Name]}; route names must be unique.");
            }

            foreach (var host in route.Hosts.Count == 0 ? ["*"] : route.Hosts)
            {
                var match = MatchKey(route, host);
                if (!matches.TryAdd(match, key))
                {
                    errors.Add($"{key}: {matches[match]} already matches the same requests (host '{host}', {route.PathType} path '{route.Path}', same conditions); this route would never be used.");
                    break;
                }
            }
        }
    }

    internal static void CheckRoute(ProxyRouteOptions route, string key, ProxyOptions options, List<string> errors)
    {
        for (var h = 0; h < route.Hosts.Count; h++)
        {
            CheckHostPattern(route.Hosts[h], $"{key}:Hosts:{h}", errors);
        }

        CheckPath(route, key, errors);
        for (var m = 0; m < route.Methods.Count; m++)
        {
            var method = route.Methods[m];
            if (!IsToken(method))
            {
                errors.Add($"{key}:Methods:{m}: '{method}' is not an HTTP method.");
            }
            else if (method.Any(char.IsAsciiLetterLower))
            {
                // Methods are case-sensitive on the wire (RFC 9110 §9.1): "get" is not GET, and no client sends it.
                errors.Add($"{key}:Methods:{m}: '{method}' would never match: methods are case-sensitive; did you mean '{method.ToUpperInvariant()}'?");
            }
        }

        for (var p = 0; p < route.Ports.Count; p++)
        {
            if (route.Ports[p] is < 1 or > 65535)
            {
                errors.Add($"{key}:Ports:{p} must be between 1 and 65535; got {route.Ports[p]}.");
            }
        }

        for (var h = 0; h < route.Headers.Count; h++)
        {
            CheckValueMatch(route.Headers[h], $"{key}:Headers:{h}", isHeader: true, errors);
        }

        for (var q = 0; q < route.QueryParameters.Count; q++)
        {
            CheckValueMatch(route.QueryParameters[q], $"{key}:QueryParameters:{q}", isHeader: false, errors);
        }

        var forwards = CheckTargets(route, key, options, errors);
        if (route.Rewrite is { } rewrite)
        {
            if (!forwards)
            {
                errors.Add($"{key}:Rewrite: only a route that forwards (Cluster or Backends) can rewrite.");
            }

            if (rewrite.Hostname is not null)
            {
                CheckHostname(rewrite.Hostname, $"{key}:Rewrite:Hostname", errors);
            }

            CheckReplacement(route, rewrite.ReplaceFullPath, rewrite.ReplacePrefixMatch, $"{key}:Rewrite", errors);
        }

        if (route.Redirect is { } redirect)
        {
            CheckRedirect(route, redirect, $"{key}:Redirect", errors);
        }

        if (route.DirectResponse is { } direct)
        {
            CheckDirectResponse(direct, $"{key}:DirectResponse", errors);
        }

        if (route.RequestHeaders is { } requestHeaders)
        {
            if (!forwards)
            {
                errors.Add($"{key}:RequestHeaders: only a route that forwards (Cluster or Backends) sends a request upstream to change.");
            }

            CheckModifier(requestHeaders, $"{key}:RequestHeaders", request: true, errors);
        }

        if (route.ResponseHeaders is { } responseHeaders)
        {
            CheckModifier(responseHeaders, $"{key}:ResponseHeaders", request: false, errors);
        }

        if (route.Timeouts is { } timeouts)
        {
            if (timeouts.Request is { } request && request <= TimeSpan.Zero)
            {
                errors.Add($"{key}:Timeouts:Request must be positive; got {request}.");
            }

            if (timeouts.ResponseHeader is { } header && header <= TimeSpan.Zero)
            {
                errors.Add($"{key}:Timeouts:ResponseHeader must be positive; got {header}.");
            }
        }

        if (route.Retry is { } retry)
        {
            CheckRetry(retry, $"{key}:Retry", errors);
        }

        if (route.AccessLogSampleRate is { } rate && (double.IsNaN(rate) || rate is < 0 or > 1))
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{key}:AccessLogSampleRate must be between 0 and 1; got {rate}."));
        }

        if (route.AuthorizationPolicy is { } authorization && string.IsNullOrWhiteSpace(authorization))
        {
            errors.Add($"{key}:AuthorizationPolicy must name a policy, or be Default or Anonymous; got an empty value.");
        }

        if (route.RateLimiterPolicy is { } rateLimiter && string.IsNullOrWhiteSpace(rateLimiter))
        {
            errors.Add($"{key}:RateLimiterPolicy must name a policy, or be Disable or Default; got an empty value.");
        }

        if (route.CorsPolicy is { } cors && string.IsNullOrWhiteSpace(cors))
        {
            errors.Add($"{key}:CorsPolicy must name a policy, or be Default or Disable; got an empty value.");
        }
    }

    /// <summary>Checks the route's action; true when it forwards.</summary>
    private static bool CheckTargets(ProxyRouteOptions route, string key, ProxyOptions options, List<string> errors)
    {
        var hasCluster = !string.IsNullOrEmpty(route.Cluster);
        var hasBackends = route.Backends.Count > 0;
        var answers = (route.Redirect is not null ? 1 : 0) + (route.DirectResponse is not null ? 1 : 0);
        if (hasCluster && hasBackends)
        {
            errors.Add($"{key}: a route forwards to Cluster or splits over Backends, not both.");
        }

        if (answers > 1)
        {
            errors.Add($"{key}: a route answers with Redirect or DirectResponse, not both.");
        }

        if (answers > 0 && (hasCluster || hasBackends))
        {
            errors.Add($"{key}: a route that answers itself ({(route.Redirect is not null ? "Redirect" : "DirectResponse")}) takes no Cluster or Backends.");
        }

        if (answers == 0 && !hasCluster && !hasBackends)
        {
            errors.Add($"{key}:Cluster is required (or Backends, Redirect or DirectResponse).");
        }

        if (hasCluster && !options.Clusters.ContainsKey(route.Cluster!))
        {
            errors.Add($"{key}:Cluster: no cluster is named '{route.Cluster}' (known: {string.Join(", ", options.Clusters.Keys)}).");
        }

        var total = 0L;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var b = 0; b < route.Backends.Count; b++)
        {
            var backend = route.Backends[b];
            var backendKey = $"{key}:Backends:{b}";
            if (string.IsNullOrEmpty(backend.Cluster))
            {
                errors.Add($"{backendKey}:Cluster is required.");
            }
            else if (!options.Clusters.ContainsKey(backend.Cluster))
            {
                errors.Add($"{backendKey}:Cluster: no cluster is named '{backend.Cluster}' (known: {string.Join(", ", options.Clusters.Keys)}).");
            }
            else if (!seen.Add(backend.Cluster))
            {
                errors.Add($"{backendKey}:Cluster: '{backend.Cluster}' is listed twice.");
            }

            if (backend.Weight is < 0 or > BackendEndpoint.MaxWeight)
            {
                errors.Add($"{backendKey}:Weight must be between 0 and {BackendEndpoint.MaxWeight}; got {backend.Weight}.");
            }
            else
            {
                total += backend.Weight;
            }
        }

        if (hasBackends && total == 0)
        {
            errors.Add($"{key}:Backends: at least one backend needs a weight above 0.");
        }

        return (hasCluster || hasBackends) && answers == 0;
    }

    private static void CheckPath(ProxyRouteOptions route, string key, List<string> errors)
    {
        if (route.PathType == PathMatchType.RegularExpression)
        {
            CheckRegex(route.Path, $"{key}:Path", errors);
        }
        else if (string.IsNullOrEmpty(route.Path) || route.Path[0] != '/')
        {
            errors.Add($"{key}:Path must start with '/'; got '{route.Path}'.");
        }
        else if (ControlOrSpace(route.Path))
        {
            errors.Add($"{key}:Path: '{route.Path}' contains a space or a control character; paths are matched decoded, so write the character itself.");
        }
    }

    private static void CheckValueMatch(ValueMatchOptions match, string key, bool isHeader, List<string> errors)
    {
        if (string.IsNullOrEmpty(match.Name) || (isHeader ? !IsToken(match.Name) : ControlOrSpace(match.Name)))
        {
            errors.Add($"{key}:Name: '{match.Name}' is not a {(isHeader ? "header" : "query parameter")} name.");
        }

        switch (match.Type)
        {
            case ValueMatchType.Exact when match.Value is null:
                errors.Add($"{key}:Value is required for an Exact match (use Type Present to match any value).");
                break;
            case ValueMatchType.RegularExpression when match.Value is null:
                errors.Add($"{key}:Value is required for a RegularExpression match.");
                break;
            case ValueMatchType.RegularExpression:
                CheckRegex(match.Value!, $"{key}:Value", errors);
                break;
            case ValueMatchType.Present or ValueMatchType.Absent when match.Value is not null:
                errors.Add($"{key}:Value: a {match.Type} match takes no value; got '{match.Value}'.");
                break;
        }
    }

    private static void CheckRegex(string pattern, string key, List<string> errors)
    {
        try
        {
            _ = RouteConditions.Anchored(pattern);
        }
        catch (ArgumentException e)
        {
            errors.Add($"{key}: '{pattern}' is not a valid regular expression: {e.Message}");
        }
    }

    private static void CheckReplacement(ProxyRouteOptions route, string? fullPath, string? prefixMatch, string key, List<string> errors)
    {
        if (fullPath is not null && prefixMatch is not null)
        {
            errors.Add($"{key}: set ReplaceFullPath or ReplacePrefixMatch, not both.");
        }

        if (fullPath is not null)
        {
            CheckNewPath(fullPath, $"{key}:ReplaceFullPath", errors);
        }

        if (prefixMatch is not null)
        {
            CheckNewPath(prefixMatch, $"{key}:ReplacePrefixMatch", errors);
            if (route.PathType != PathMatchType.Prefix)
            {
                errors.Add($"{key}:ReplacePrefixMatch needs a route whose PathType is Prefix; this one is {route.PathType}.");
            }
        }
    }

    /// <summary>A path sent on the wire or in a Location: it must already be in percent-encoded form.</summary>
    private static void CheckNewPath(string path, string key, List<string> errors)
    {
        if (path.Length == 0 || path[0] != '/')
        {
            errors.Add($"{key} must start with '/'; got '{path}'.");
            return;
        }

        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            if (c == '%')
            {
                if (i + 2 >= path.Length || !char.IsAsciiHexDigit(path[i + 1]) || !char.IsAsciiHexDigit(path[i + 2]))
                {
                    errors.Add($"{key}: '{path}' has a '%' that does not start an escape such as %20.");
                    return;
                }
            }
            else if (!char.IsAsciiLetterOrDigit(c) && "-._~!$&'()*+,;=:@/".IndexOf(c, StringComparison.Ordinal) < 0)
            {
                errors.Add($"{key}: '{path}' has '{c}', which a path cannot carry unescaped; write it percent-encoded (and no query string).");
                return;
            }
        }
    }

    private static void CheckRedirect(ProxyRouteOptions route, RedirectOptions redirect, string key, List<string> errors)
    {
        if (redirect.Scheme is not null && redirect.Scheme is not ("http" or "https"))
        {
            errors.Add($"{key}:Scheme must be http or https; got '{redirect.Scheme}'.");
        }

        if (redirect.Hostname is not null)
        {
            CheckHostname(redirect.Hostname, $"{key}:Hostname", errors);
        }

        if (redirect.Port is < 1 or > 65535)
        {
            errors.Add($"{key}:Port must be between 1 and 65535; got {redirect.Port}.");
        }

        if (Array.IndexOf(RedirectCodes, redirect.StatusCode) < 0)
        {
            errors.Add($"{key}:StatusCode must be 301, 302, 303, 307 or 308; got {redirect.StatusCode}.");
        }

        CheckReplacement(route, redirect.ReplaceFullPath, redirect.ReplacePrefixMatch, key, errors);
    }

    private static void CheckDirectResponse(DirectResponseOptions direct, string key, List<string> errors)
    {
        if (direct.StatusCode is < 200 or > 599)
        {
            errors.Add($"{key}:StatusCode must be between 200 and 599; got {direct.StatusCode}.");
        }

        var bytes = Encoding.UTF8.GetByteCount(direct.Body ?? "");
        if (bytes > MaxDirectBodyBytes)
        {
            errors.Add($"{key}:Body is {bytes} bytes; at most {MaxDirectBodyBytes} are allowed.");
        }

        if (bytes > 0 && direct.StatusCode is 204 or 304)
        {
            errors.Add($"{key}:Body: a {direct.StatusCode} response has no body.");
        }

        if (string.IsNullOrWhiteSpace(direct.ContentType) || HasControl(direct.ContentType))
        {
            errors.Add($"{key}:ContentType: '{direct.ContentType}' is not a media type.");
        }
    }

    private static void CheckModifier(HeaderModifierOptions modifier, string key, bool request, List<string> errors)
    {
        for (var i = 0; i < modifier.Set.Count; i++)
        {
            CheckHeader(modifier.Set[i].Name, modifier.Set[i].Value, $"{key}:Set:{i}", request, errors);
        }

        for (var i = 0; i < modifier.Add.Count; i++)
        {
            CheckHeader(modifier.Add[i].Name, modifier.Add[i].Value, $"{key}:Add:{i}", request, errors);
        }

        for (var i = 0; i < modifier.Remove.Count; i++)
        {
            CheckHeaderName(modifier.Remove[i], $"{key}:Remove:{i}", request, errors);
        }
    }

    private static void CheckHeader(string name, string value, string key, bool request, List<string> errors)
    {
        CheckHeaderName(name, $"{key}:Name", request, errors);
        if (HasControl(value))
        {
            errors.Add($"{key}:Value: a header value cannot contain control characters (CR, LF, NUL…).");
        }
    }

    private static void CheckHeaderName(string name, string key, bool request, List<string> errors)
    {
        if (!IsToken(name))
        {
            errors.Add($"{key}: '{name}' is not a header name.");
        }
        else if (request && name.Equals("Host", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{key}: the Host header is changed with Rewrite:Hostname.");
        }
        else if (request ? RequestHeadWriter.IsNeverForwarded(name) : ResponseControlled.Contains(name, StringComparer.OrdinalIgnoreCase))
        {
            errors.Add($"{key}: '{name}' is set by the proxy itself (framing, hop-by-hop or forwarding headers) and cannot be changed by a route.");
        }
    }

    private static void CheckRetry(RetryOptions retry, string key, List<string> errors)
    {
        if (retry.MaxAttempts is < 1 or > ProxyOptionsValidation.MaxAttemptsLimit)
        {
            errors.Add($"{key}:MaxAttempts must be between 1 and {ProxyOptionsValidation.MaxAttemptsLimit}; got {retry.MaxAttempts}.");
        }

        for (var i = 0; i < retry.On.Count; i++)
        {
            if (!RetryPolicy.TryParseCondition(retry.On[i], out _))
            {
                errors.Add($"{key}:On:{i}: '{retry.On[i]}' is not a retry condition; expected one of {string.Join(", ", RetryPolicy.ConditionNames)}.");
            }
        }

        if (double.IsNaN(retry.BudgetPercent) || retry.BudgetPercent is < 0 or > 100)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{key}:BudgetPercent must be between 0 and 100; got {retry.BudgetPercent}."));
        }

        if (retry.MinRetryConcurrency < 0)
        {
            errors.Add($"{key}:MinRetryConcurrency must not be negative; got {retry.MinRetryConcurrency}.");
        }
    }

    internal static void CheckHostPattern(string host, string key, List<string> errors)
    {
        var star = host.IndexOf('*', StringComparison.Ordinal);
        if (host == "*")
        {
            return;
        }

        var name = star == 0 && host.StartsWith("*.", StringComparison.Ordinal) ? host[2..] : host;
        if (string.IsNullOrEmpty(name) || name.Contains('*', StringComparison.Ordinal) || !IsHostname(name))
        {
            errors.Add($"{key}: '{host}' is not a host pattern; expected an exact host (api.example.com), '*.suffix' or '*'.");
        }
    }

    private static void CheckHostname(string host, string key, List<string> errors)
    {
        if (!IsHostname(host))
        {
            errors.Add($"{key}: '{host}' is not a host name.");
        }
    }

    // Names and IP literals: letters, digits, '-', '.', and for IPv6 ':' and brackets; no port, no path.
    private static bool IsHostname(string host) =>
        host.Length is > 0 and <= 253
        && (host.All(static c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_')
            || (host[0] == '[' && host[^1] == ']' && host[1..^1].All(static c => char.IsAsciiHexDigit(c) || c is ':' or '.')));

    /// <summary>An RFC 9110 token: a method or a header name.</summary>
    private static bool IsToken(string value) =>
        value.Length > 0 && value.All(static c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal));

    private static bool HasControl(string value) => value.Any(static c => (c < 0x20 && c != '\t') || c == 0x7F);

    private static bool ControlOrSpace(string value) => value.Any(static c => c <= 0x20 || c == 0x7F);

    private static string MatchKey(ProxyRouteOptions route, string host)
    {
        var path = route.PathType == PathMatchType.Prefix ? PathPrefix.Normalize(route.Path) : route.Path;
        var methods = string.Join(",", route.Methods.Order(StringComparer.Ordinal));
        var ports = string.Join(",", route.Ports.Distinct().Order());
        var headers = string.Join(",", route.Headers.Select(static h => $"{h.Name.ToUpperInvariant()}:{h.Type}:{h.Value}").Order(StringComparer.Ordinal));
        var query = string.Join(",", route.QueryParameters.Select(static q => $"{q.Name}:{q.Type}:{q.Value}").Order(StringComparer.Ordinal));
        // The host as the route table keys it (ProxyRoute trims it and its trailing dot).
        host = host.Trim().TrimEnd('.');
        return $"{host.ToUpperInvariant()}|{route.PathType}|{path}|{methods}|{ports}|{headers}|{query}";
    }
}
