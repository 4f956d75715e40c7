namespace LoadBalancing.Proxy;

/// <summary>
/// One route: what a request must match (hosts, path, method, headers, query parameters, all of them) and what is
/// done with it: forwarded to <see cref="Cluster"/> or split over <see cref="Backends"/>, redirected, or answered
/// directly; with optional rewrites, header changes, timeouts and a retry policy. Names follow Gateway API's
/// HTTPRoute, so a route reads the same in both.
/// </summary>
public sealed class ProxyRouteOptions
{
    /// <summary>The route's name in logs, the access log and <c>/config</c>. Default <c>route-N</c> (its position).</summary>
    public string? Name { get; set; }

    /// <summary>
    /// The hosts to match: exact (<c>api.example.com</c>) or a suffix (<c>*.example.com</c>, which does not match
    /// <c>example.com</c> itself). Empty (the default) or <c>*</c> matches any host. Case-insensitive, port ignored.
    /// </summary>
    public IList<string> Hosts { get; } = new List<string>();

    /// <summary>The path to match, starting with <c>/</c>; how, <see cref="PathType"/> says. Default <c>/</c>.</summary>
    public string Path { get; set; } = "/";

    /// <summary>
    /// How <see cref="Path"/> matches. <see cref="PathMatchType.Prefix"/> (the default) matches whole segments:
    /// <c>/api</c> matches <c>/api</c>, <c>/api/</c> and <c>/api/v1</c> but not <c>/apis</c>; a trailing <c>/</c> in
    /// the prefix is ignored. Paths are matched case-sensitively, after percent-decoding (as Kestrel decodes them).
    /// </summary>
    public PathMatchType PathType { get; set; } = PathMatchType.Prefix;

    /// <summary>The methods to match (<c>GET</c>, <c>POST</c>…); empty (the default) matches any.</summary>
    public IList<string> Methods { get; } = new List<string>();

    /// <summary>The local ports (where the request arrived: a listener's port) to match; empty (the default) matches any.</summary>
    public IList<int> Ports { get; } = new List<int>();

    /// <summary>Headers the request must have (or lack); all must match.</summary>
    public IList<ValueMatchOptions> Headers { get; } = new List<ValueMatchOptions>();

    /// <summary>Query parameters the request must have (or lack); all must match. Values are compared decoded.</summary>
    public IList<ValueMatchOptions> QueryParameters { get; } = new List<ValueMatchOptions>();

    /// <summary>The cluster matching requests go to (or use <see cref="Backends"/> to split them).</summary>
    public string? Cluster { get; set; }

    /// <summary>A weighted split over several clusters, for example a canary at 90/10. Exclusive with <see cref="Cluster"/>.</summary>
    public IList<WeightedClusterOptions> Backends { get; } = new List<WeightedClusterOptions>();

    /// <summary>Rewrites the path or host before forwarding.</summary>
    public UrlRewriteOptions? Rewrite { get; set; }

    /// <summary>Answers with a redirect instead of forwarding. Exclusive with clusters and <see cref="DirectResponse"/>.</summary>
    public RedirectOptions? Redirect { get; set; }

    /// <summary>Answers with a fixed response instead of forwarding. Exclusive with clusters and <see cref="Redirect"/>.</summary>
    public DirectResponseOptions? DirectResponse { get; set; }

    /// <summary>Headers set, added or removed on the request sent upstream.</summary>
    public HeaderModifierOptions? RequestHeaders { get; set; }

    /// <summary>Headers set, added or removed on the response sent to the client.</summary>
    public HeaderModifierOptions? ResponseHeaders { get; set; }

    /// <summary>Timeouts that override the cluster's for this route.</summary>
    public RouteTimeoutOptions? Timeouts { get; set; }

    /// <summary>When a failed attempt is tried again on another endpoint; default: the cluster's <c>MaxAttempts</c> on connect failures and resets.</summary>
    public RetryOptions? Retry { get; set; }

    /// <summary>The fraction of this route's requests in the access log (0 to 1); default the access log's <c>SampleRate</c>.</summary>
    public double? AccessLogSampleRate { get; set; }

    /// <summary>
    /// The ASP.NET Core authorization policy this route's requests must satisfy before they are proxied: a policy's
    /// name, <c>Default</c> (the application's default policy) or <c>Anonymous</c> (none, even where the mapped
    /// proxy's conventions require one). Enforced by the application's authorization middleware, so the proxy must be
    /// mapped with <c>MapLoadBalancingProxy()</c>; a host that cannot enforce it refuses the configuration.
    /// </summary>
    public string? AuthorizationPolicy { get; set; }

    /// <summary>
    /// The ASP.NET Core rate limiter policy for this route's requests: a policy's name, <c>Disable</c> (none, and not
    /// the global limiter either) or <c>Default</c> (the mapped proxy's conventions and the global limiter, as with none). Enforced by the application's rate limiting middleware (<c>UseRateLimiter()</c>), so
    /// the proxy must be mapped with <c>MapLoadBalancingProxy()</c>.
    /// </summary>
    public string? RateLimiterPolicy { get; set; }

    /// <summary>
    /// The ASP.NET Core CORS policy for this route's requests: a policy's name, <c>Default</c> (the application's
    /// default policy) or <c>Disable</c> (no CORS: a preflight is answered without CORS headers). Enforced by the
    /// application's CORS middleware (<c>UseCors()</c>), which answers the route's preflight requests itself, so the
    /// proxy must be mapped with <c>MapLoadBalancingProxy()</c>; a name or default the application lacks refuses the
    /// configuration.
    /// </summary>
    public string? CorsPolicy { get; set; }

    /// <summary>
    /// The object a route source built this route from (not a configuration key: configured routes have none). Shown
    /// in <c>/config</c> and <c>/backends</c>.
    /// </summary>
    public RouteOrigin? Origin { get; set; }
}

/// <summary>How a route's path matches.</summary>
public enum PathMatchType
{
    /// <summary>A prefix of whole path segments.</summary>
    Prefix,

    /// <summary>The whole path, exactly.</summary>
    Exact,

    /// <summary>A .NET regular expression that must match the whole path (it is anchored at both ends).</summary>
    RegularExpression,
}

/// <summary>How a header or query parameter matches.</summary>
public enum ValueMatchType
{
    /// <summary>A value equal to <see cref="ValueMatchOptions.Value"/> (case-sensitive).</summary>
    Exact,

    /// <summary>A value the regular expression <see cref="ValueMatchOptions.Value"/> matches whole.</summary>
    RegularExpression,

    /// <summary>Present, whatever its value.</summary>
    Present,

    /// <summary>Not present.</summary>
    Absent,
}

/// <summary>One header or query parameter condition of a route.</summary>
public sealed class ValueMatchOptions
{
    /// <summary>The header or parameter name (header names are case-insensitive, parameter names are not).</summary>
    public string Name { get; set; } = "";

    /// <summary>The value, or pattern, to match; unused by <see cref="ValueMatchType.Present"/> and <see cref="ValueMatchType.Absent"/>.</summary>
    public string? Value { get; set; }

    /// <summary>How the value matches. Default <see cref="ValueMatchType.Exact"/>.</summary>
    public ValueMatchType Type { get; set; } = ValueMatchType.Exact;
}

/// <summary>One cluster of a weighted split.</summary>
public sealed class WeightedClusterOptions
{
    /// <summary>The cluster's name.</summary>
    public string Cluster { get; set; } = "";

    /// <summary>Its share relative to the other backends' weights, 0 to 1,000,000. Default 1.</summary>
    public int Weight { get; set; } = 1;
}

/// <summary>A rewrite of the request before it is forwarded (Gateway API's URLRewrite).</summary>
public sealed class UrlRewriteOptions
{
    /// <summary>The <c>Host</c> header sent upstream instead of the client's.</summary>
    public string? Hostname { get; set; }

    /// <summary>Replaces the matched path prefix (routes with a prefix path only): <c>/static</c> → <c>/</c> strips it.</summary>
    public string? ReplacePrefixMatch { get; set; }

    /// <summary>Replaces the whole path; the query string is kept.</summary>
    public string? ReplaceFullPath { get; set; }
}

/// <summary>A redirect answered by the proxy (Gateway API's RequestRedirect). Unset parts keep the request's.</summary>
public sealed class RedirectOptions
{
    /// <summary><c>http</c> or <c>https</c>.</summary>
    public string? Scheme { get; set; }

    /// <summary>The host to redirect to.</summary>
    public string? Hostname { get; set; }

    /// <summary>The port; when unset, the scheme's default if the scheme changes, else the request's port.</summary>
    public int? Port { get; set; }

    /// <summary>Replaces the matched path prefix (routes with a prefix path only).</summary>
    public string? ReplacePrefixMatch { get; set; }

    /// <summary>Replaces the whole path; the query string is kept.</summary>
    public string? ReplaceFullPath { get; set; }

    /// <summary>301, 302 (the default), 303, 307 or 308.</summary>
    public int StatusCode { get; set; } = 302;
}

/// <summary>A fixed response answered by the proxy.</summary>
public sealed class DirectResponseOptions
{
    /// <summary>The status, 200 to 599. Default 200.</summary>
    public int StatusCode { get; set; } = 200;

    /// <summary>The body (at most 64 KiB as UTF-8); empty by default.</summary>
    public string? Body { get; set; }

    /// <summary>The body's type. Default <c>text/plain; charset=utf-8</c>.</summary>
    public string ContentType { get; set; } = "text/plain; charset=utf-8";
}

/// <summary>Changes to a message's headers, applied in the order remove, set, add.</summary>
public sealed class HeaderModifierOptions
{
    /// <summary>Headers replaced (or added when absent).</summary>
    public IList<HeaderValueOptions> Set { get; } = new List<HeaderValueOptions>();

    /// <summary>Values appended to a header (which is added when absent).</summary>
    public IList<HeaderValueOptions> Add { get; } = new List<HeaderValueOptions>();

    /// <summary>Headers removed, by name.</summary>
    public IList<string> Remove { get; } = new List<string>();
}

/// <summary>A header name and value.</summary>
public sealed class HeaderValueOptions
{
    /// <summary>The header name.</summary>
    public string Name { get; set; } = "";

    /// <summary>The header value.</summary>
    public string Value { get; set; } = "";
}

/// <summary>A route's timeouts; each unset one keeps the cluster's.</summary>
public sealed class RouteTimeoutOptions
{
    /// <summary>
    /// The longest the whole request may take, from its arrival to the last byte of the response, retries included.
    /// Past it the client gets 504 (or, once the response has started, a closed connection). Default: none.
    /// </summary>
    public TimeSpan? Request { get; set; }

    /// <summary>How long an upstream may take to send the response headers once the request is sent (the cluster's <c>ResponseHeaderTimeout</c>).</summary>
    public TimeSpan? ResponseHeader { get; set; }
}

/// <summary>
/// When a failed attempt is tried again, on another endpoint. A request with a body, or whose method is not
/// idempotent, is retried only after a connect failure (it never reached an upstream). A retry budget keeps retries
/// from multiplying load in an outage: retries in flight to a cluster may not exceed <see cref="BudgetPercent"/> of
/// its requests in flight, or <see cref="MinRetryConcurrency"/> when that is more.
/// </summary>
public sealed class RetryOptions
{
    /// <summary>How many attempts a request may make in all (1 disables retries), at most 8. Default 3.</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>
    /// The conditions retried: <c>connect-failure</c>, <c>reset</c> (the connection broke before a response),
    /// <c>502</c>, <c>503</c>, <c>504</c> (responses with that status). Default <c>connect-failure</c> and <c>reset</c>.
    /// A connect failure is retried whatever the list says (the request never reached an upstream); set
    /// <see cref="MaxAttempts"/> to 1 to stop all retries.
    /// </summary>
    public IList<string> On { get; } = new List<string>();

    /// <summary>Retries in flight as a share of requests in flight, per cluster, 0 to 100. Default 20.</summary>
    public double BudgetPercent { get; set; } = 20;

    /// <summary>Retries always allowed in flight per cluster, whatever the percentage. Default 10.</summary>
    public int MinRetryConcurrency { get; set; } = 10;
}
