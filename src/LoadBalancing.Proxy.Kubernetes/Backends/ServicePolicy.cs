using System.Globalization;
using LoadBalancing.Configuration;
using LoadBalancing.Proxy.Kubernetes.Gateway;

namespace LoadBalancing.Proxy.Kubernetes.Backends;

/// <summary>
/// A Service's balancing policy, from its <c>loadbalancing.dev/*</c> annotations: the algorithm, the request key of
/// hash algorithms, two timeouts, limits of requests in flight (per cluster and per endpoint), session affinity and an active health check. Values are read as the proxy's configuration reads them, and the cluster they
/// make is checked with the proxy's own cluster validation; anything wrong and the Service's clusters keep the
/// defaults, with every problem named.
/// </summary>
internal static class ServicePolicy
{
    public const string Prefix = "loadbalancing.dev/";
    public const string Algorithm = Prefix + "algorithm";
    public const string HashKey = Prefix + "hash-key";
    public const string ConnectTimeout = Prefix + "connect-timeout";
    public const string ResponseHeaderTimeout = Prefix + "response-header-timeout";
    public const string HealthCheck = Prefix + "health-check";
    public const string HealthCheckInterval = Prefix + "health-check-interval";
    public const string MaxConcurrentRequests = Prefix + "max-concurrent-requests";
    public const string MaxRequestsPerEndpoint = Prefix + "max-requests-per-endpoint";
    public const string SessionAffinity = Prefix + "session-affinity";
    public const string SessionAffinityMaxAge = Prefix + "session-affinity-max-age";

    private static readonly string[] Known = [Algorithm, HashKey, ConnectTimeout, ResponseHeaderTimeout, HealthCheck, HealthCheckInterval, MaxConcurrentRequests, MaxRequestsPerEndpoint, SessionAffinity, SessionAffinityMaxAge];

    private static readonly ConfigurationValue<LoadBalancingAlgorithm> Algorithms = ConfigurationValues.Enum<LoadBalancingAlgorithm>("a balancing algorithm");

    /// <summary>Whether the Service carries any <c>loadbalancing.dev/*</c> annotation.</summary>
    public static bool Present(IDictionary<string, string>? annotations) =>
        annotations is not null && annotations.Keys.Any(k => k.StartsWith(Prefix, StringComparison.Ordinal));

    /// <summary>Applies the annotations to <paramref name="cluster"/>; the problems with them, empty when all applied.</summary>
    public static List<string> Apply(IDictionary<string, string>? annotations, ClusterOptions cluster)
    {
        var problems = new List<string>();
        if (annotations is null)
        {
            return problems;
        }

        foreach (var (key, raw) in annotations.Where(a => a.Key.StartsWith(Prefix, StringComparison.Ordinal)).OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            var value = raw.Trim();
            switch (key)
            {
                case Algorithm:
                    if (Algorithms.TryParse(value, out var algorithm))
                    {
                        cluster.Algorithm = algorithm;
                    }
                    else
                    {
                        problems.Add($"{key}: '{raw}' is not {Algorithms.Expected}; {Algorithms.Hint(value)}.");
                    }

                    break;

                case HashKey:
                    if (TryParseHashKey(value, out var hashKey, out var why))
                    {
                        cluster.HashKey = hashKey;
                    }
                    else
                    {
                        problems.Add($"{key}: '{raw}' {why}.");
                    }

                    break;

                case ConnectTimeout:
                    if (GatewayDuration.TryParse(value, out var connect))
                    {
                        cluster.ConnectTimeout = connect;
                    }
                    else
                    {
                        problems.Add($"{key}: '{raw}' is not a duration such as 5s, 250ms or 1m.");
                    }

                    break;

                case ResponseHeaderTimeout:
                    if (GatewayDuration.TryParse(value, out var header))
                    {
                        cluster.ResponseHeaderTimeout = header;
                    }
                    else
                    {
                        problems.Add($"{key}: '{raw}' is not a duration such as 5s, 250ms or 1m.");
                    }

                    break;

                case MaxConcurrentRequests:
                    // Digits only, as the configuration's whole numbers; 0 parses and the cluster validation refuses it.
                    if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var limit))
                    {
                        cluster.MaxConcurrentRequests = limit;
                    }
                    else
                    {
                        problems.Add($"{key}: '{raw}' is not a whole number of requests.");
                    }

                    break;

                case MaxRequestsPerEndpoint:
                    if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var perEndpoint))
                    {
                        cluster.MaxRequestsPerEndpoint = perEndpoint;
                    }
                    else
                    {
                        problems.Add($"{key}: '{raw}' is not a whole number of requests.");
                    }

                    break;

                case SessionAffinity:
                    if (TryParseSessionAffinity(value, out var affinity))
                    {
                        // Keyed in order, so a max-age annotation (read after this one) lands on this cookie.
                        cluster.SessionAffinity = affinity;
                    }
                    else
                    {
                        problems.Add($"{key}: '{raw}' is not cookie or cookie:NAME.");
                    }

                    break;

                case SessionAffinityMaxAge:
                    if (cluster.SessionAffinity is null && !annotations.ContainsKey(SessionAffinity))
                    {
                        problems.Add($"{key} needs {SessionAffinity}, which turns affinity on.");
                    }
                    else if (GatewayDuration.TryParse(value, out var maxAge))
                    {
                        // Under a second parses and the cluster validation refuses it, naming the limit.
                        (cluster.SessionAffinity ??= new SessionAffinityOptions()).MaxAge = maxAge;
                    }
                    else
                    {
                        problems.Add($"{key}: '{raw}' is not a duration such as 30m, 1h or 24h.");
                    }

                    break;

                case HealthCheck:
                    if (TryParseHealthCheck(value, out var check))
                    {
                        // Keyed in order, so an interval annotation (read after this one) lands on this check.
                        cluster.HealthCheck = check;
                    }
                    else
                    {
                        problems.Add($"{key}: '{raw}' is not http:/PATH, grpc, grpc:SERVICE or tcp.");
                    }

                    break;

                case HealthCheckInterval:
                    if (cluster.HealthCheck is null && !annotations.ContainsKey(HealthCheck))
                    {
                        problems.Add($"{key} needs {HealthCheck}, which turns the check on.");
                    }
                    else if (GatewayDuration.TryParse(value, out var interval))
                    {
                        (cluster.HealthCheck ??= new HealthCheckOptions()).Interval = interval;
                    }
                    else
                    {
                        problems.Add($"{key}: '{raw}' is not a duration such as 5s, 250ms or 1m.");
                    }

                    break;

                default:
                    var suggestion = ConfigurationNames.Suggest(key[Prefix.Length..], Known.Select(k => k[Prefix.Length..]));
                    problems.Add(suggestion is null
                        ? $"{key} is not a Service annotation the proxy knows ({string.Join(", ", Known)})."
                        : $"{key} is not a Service annotation the proxy knows; did you mean {Prefix}{suggestion}?");
                    break;
            }
        }

        return problems;
    }

    /// <summary><c>cookie</c> (the default cookie name) or <c>cookie:NAME</c>; the name is checked by the cluster validation.</summary>
    public static bool TryParseSessionAffinity(string text, out SessionAffinityOptions affinity)
    {
        affinity = new SessionAffinityOptions();
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (!(colon < 0 ? text : text[..colon]).Equals("cookie", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (colon >= 0)
        {
            affinity.CookieName = text[(colon + 1)..];
        }

        return true;
    }

    /// <summary><c>http:/PATH</c> (an HTTP GET of the path), <c>grpc</c> or <c>grpc:SERVICE</c> (grpc.health.v1), <c>tcp</c> (a connect).</summary>
    public static bool TryParseHealthCheck(string text, out HealthCheckOptions check)
    {
        check = new HealthCheckOptions();
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var kind = (colon < 0 ? text : text[..colon]).ToUpperInvariant();
        var rest = colon < 0 ? null : text[(colon + 1)..];
        switch (kind)
        {
            case "HTTP" when rest is { Length: > 0 } && rest[0] == '/':
                check.Protocol = HealthCheckProtocol.Http;
                check.Path = rest;
                return true;
            case "GRPC":
                check.Protocol = HealthCheckProtocol.Grpc;
                check.ServiceName = string.IsNullOrEmpty(rest) ? null : rest;
                return true;
            case "TCP" when rest is null:
                check.Protocol = HealthCheckProtocol.Tcp;
                return true;
            default:
                return false;
        }
    }

    /// <summary><c>header:NAME</c>, <c>cookie:NAME</c>, <c>query:NAME</c>, <c>client-ip</c> or <c>path</c> (prefixes case-insensitive).</summary>
    public static bool TryParseHashKey(string text, out HashKeyOptions key, out string? why)
    {
        key = new HashKeyOptions();
        why = null;
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var kind = (colon < 0 ? text : text[..colon]).ToUpperInvariant();
        var name = colon < 0 ? null : text[(colon + 1)..];
        switch (kind)
        {
            case "HEADER":
                key.Source = HashKeySource.Header;
                break;
            case "COOKIE":
                key.Source = HashKeySource.Cookie;
                break;
            case "QUERY":
                key.Source = HashKeySource.QueryParameter;
                break;
            case "CLIENT-IP" when name is null:
                key.Source = HashKeySource.ClientIp;
                return true;
            case "PATH" when name is null:
                key.Source = HashKeySource.Path;
                return true;
            default:
                why = "is not a hash key; expected header:NAME, cookie:NAME, query:NAME, client-ip or path";
                return false;
        }

        if (string.IsNullOrWhiteSpace(name) || name.Any(c => c <= ' ' || c >= 0x7f))
        {
            why = $"needs a name after '{text[..colon]}:' (visible ASCII, no spaces)";
            return false;
        }

        key.Name = name;
        return true;
    }

    /// <summary>
    /// What the proxy's cluster validation says about <paramref name="cluster"/> on its own, each problem with the
    /// cluster's key path taken off (<c>HashKey: a request key only steers Maglev and RingHash; …</c>).
    /// </summary>
    public static IReadOnlyList<string> Check(string name, ClusterOptions cluster)
    {
        const string Probe = "policy";
        var route = new ProxyRouteOptions { Name = Probe, Cluster = name };
        var prefix = $"{Probe}:Clusters:{name}:";
        return [.. ProxyRouteSet.Check(route, new Dictionary<string, ClusterOptions>(StringComparer.Ordinal) { [name] = cluster })
            .Select(e => e.StartsWith(prefix, StringComparison.Ordinal) ? e[prefix.Length..] : e)];
    }
}
