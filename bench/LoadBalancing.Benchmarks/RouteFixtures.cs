using System.Globalization;
using LoadBalancing.Proxy;
using LoadBalancing.Proxy.Routing;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Benchmarks;

/// <summary>The kind of request a route-match benchmark sends (each kind is a set of 16 different requests).</summary>
public enum RouteRequest
{
    /// <summary>Two of each kind below.</summary>
    Mixed,

    /// <summary>An exact host, paths of 0–3 segments under its prefixes.</summary>
    ExactHost,

    /// <summary>A host matched by a <c>*.suffix</c> pattern (one or two labels before it).</summary>
    SuffixHost,

    /// <summary>An exact host, paths of 6–8 segments whose longest matching prefix has 3–4.</summary>
    DeepPrefix,

    /// <summary>Exact paths and routes with method, header and query conditions (matching and not).</summary>
    Conditions,

    /// <summary>The host with the regular-expression routes: expression hits and misses that fall to a prefix.</summary>
    Regex,

    /// <summary>Hosts no pattern names (or whose routes do not match), answered by an any-host route.</summary>
    AnyHost,

    /// <summary>No route at all.</summary>
    Miss,
}

/// <summary>
/// Route tables and requests for the routing benchmarks, built the same way each time. The large table is 1,000 routes:
/// 98 hosts (every tenth a <c>*.suffix</c>) of 10 routes each — prefixes of 1–4 segments, two exact paths, a method, a
/// header and a query condition — plus 15 regular-expression routes on the first host and 5 any-host routes.
/// </summary>
public static class RouteFixtures
{
    public const int RequestsPerKind = 16;

    private const int RegexRoutes = 15;
    private const int AnyHostRoutes = 5;
    private const int RoutesPerHost = 10;

    /// <summary>Route options over <paramref name="routes"/> = 10 or 1,000 (see the class summary); each names a cluster of <paramref name="clusters"/>.</summary>
    public static List<ProxyRouteOptions> Routes(int routes, int clusters = 100)
    {
        var hosts = routes switch
        {
            10 => 0, // a hand-made table, below
            1_000 => (routes - RegexRoutes - AnyHostRoutes) / RoutesPerHost,
            _ => throw new ArgumentOutOfRangeException(nameof(routes), routes, "10 or 1000"),
        };

        var list = new List<ProxyRouteOptions>(routes);
        if (hosts == 0)
        {
            // One exact host, one suffix host, the any host, one expression: every kind of request has something to hit.
            var exact = Host(0);
            list.Add(Route(exact, "/", PathMatchType.Prefix));
            list.Add(Route(exact, "/api", PathMatchType.Prefix));
            list.Add(Route(exact, "/api/v1/users", PathMatchType.Prefix));
            list.Add(Route(exact, "/healthz", PathMatchType.Exact));
            list.Add(Methods(Route(exact, "/login", PathMatchType.Exact), "POST"));
            list.Add(Header(Route(exact, "/api", PathMatchType.Prefix), "x-canary", "true"));
            list.Add(Route(exact, "/items/[0-9]+", PathMatchType.RegularExpression));
            list.Add(Route(Host(9), "/api", PathMatchType.Prefix));
            list.Add(Route("*", "/status", PathMatchType.Prefix));
            list.Add(Route("*", "/favicon.ico", PathMatchType.Exact));
        }
        else
        {
            for (var h = 0; h < hosts; h++)
            {
                var host = Host(h);
                var suffix = host.StartsWith('*');

                // Suffix hosts have no "/" of their own: what they do not route falls back to the any-host routes.
                list.Add(Route(host, suffix ? "/app" : "/", PathMatchType.Prefix));
                list.Add(Route(host, "/api", PathMatchType.Prefix));
                list.Add(Route(host, "/api/v1", PathMatchType.Prefix));
                list.Add(Route(host, "/api/v1/users", PathMatchType.Prefix));
                list.Add(Route(host, "/api/v1/users/admin", PathMatchType.Prefix));
                list.Add(Route(host, "/static/", PathMatchType.Prefix));
                list.Add(Route(host, "/healthz", PathMatchType.Exact));
                list.Add(Methods(Route(host, "/login", PathMatchType.Exact), "POST"));
                list.Add(Header(Route(host, "/api/v1", PathMatchType.Prefix), "x-canary", "true"));
                var beta = Methods(Route(host, "/api/v2", PathMatchType.Prefix), "GET", "HEAD");
                beta.QueryParameters.Add(new ValueMatchOptions { Name = "beta", Type = ValueMatchType.Present });
                list.Add(beta);
                if (h == 0)
                {
                    for (var r = 0; r < RegexRoutes; r++)
                    {
                        list.Add(Route(host, RegexPattern(r), PathMatchType.RegularExpression));
                    }
                }
            }

            list.Add(Route("*", "/.well-known/acme-challenge", PathMatchType.Prefix));
            list.Add(Route("*", "/status", PathMatchType.Prefix));
            list.Add(Route("*", "/healthz", PathMatchType.Exact));
            list.Add(Route("*", "/metrics", PathMatchType.Exact));
            list.Add(Route("*", "/favicon.ico", PathMatchType.Exact));
        }

        if (list.Count != routes)
        {
            throw new InvalidOperationException($"built {list.Count} routes, not {routes}");
        }

        for (var i = 0; i < list.Count; i++)
        {
            list[i].Name = string.Create(CultureInfo.InvariantCulture, $"r{i}");
            list[i].Cluster = string.Create(CultureInfo.InvariantCulture, $"c{i % clusters}");
        }

        return list;
    }

    /// <summary>A route table over <see cref="Routes"/> that answers directly, so it needs no cluster.</summary>
    internal static RouteTable Table(int routes)
    {
        var options = Routes(routes);
        foreach (var route in options)
        {
            route.Cluster = null;
            route.DirectResponse = new DirectResponseOptions();
        }

        return new RouteTable([.. options.Select(static (r, i) => new ProxyRoute(r, i, new Dictionary<string, LoadBalancing.Proxy.Clusters.ProxyCluster>()))]);
    }

    /// <summary>What each request of <paramref name="kind"/> matches: "host path → route (its host, its path)", or "→ none".</summary>
    public static string[] Describe(RouteRequest kind, int routes)
    {
        var table = Table(routes);
        return [.. Requests(kind, routes).Select(r => $"{r.Method} {r.Headers.Host} {r.Path}{r.QueryString} → "
            + (table.Match(r) is { } m ? $"{m.Name} ({string.Join(',', m.Hosts)} {m.PathType} {m.Path}{(m.Conditions.IsEmpty ? "" : " +conditions")})" : "none"))];
    }

    /// <summary><see cref="RequestsPerKind"/> requests of <paramref name="kind"/>, valid against either table.</summary>
    public static HttpRequest[] Requests(RouteRequest kind, int routes)
    {
        var large = routes > 10;
        var exactHosts = large ? Enumerable.Range(0, 98).Where(h => h % 10 != 9).Select(h => Host(h)).ToArray() : [Host(0)];
        var suffixes = large ? Enumerable.Range(0, 98).Where(h => h % 10 == 9).Select(h => Host(h)[1..]).ToArray() : [Host(9)[1..]];
        string ExactHost(int i) => exactHosts[(i * 37 + 5) % exactHosts.Length];
        string Suffix(int i) => suffixes[(i * 3 + 1) % suffixes.Length];

        var requests = kind switch
        {
            RouteRequest.Mixed => Enum.GetValues<RouteRequest>().Where(k => k != RouteRequest.Mixed)
                .SelectMany(k => Requests(k, routes).Take(2))
                .Concat(Requests(RouteRequest.ExactHost, routes).Skip(2).Take(2))
                .ToArray(),
            RouteRequest.ExactHost => Enumerable.Range(0, RequestsPerKind).Select(i => Request(
                ExactHost(i) + (i % 4 == 0 ? ":443" : ""),
                Of(i, "/", "/api/orders", "/api/v1", "/api/v1/users/42", "/static/css/site.css", "/about", "/api/v1/orders/7", "/index.html"),
                query: i % 3 == 0 ? "?page=2&sort=desc" : "")).ToArray(),
            RouteRequest.SuffixHost => Enumerable.Range(0, RequestsPerKind).Select(i => Request(
                (i % 2 == 0 ? "app-" + i.ToString(CultureInfo.InvariantCulture) : "eu.app") + Suffix(i),
                Of(i, "/api/v1/users/42", "/app/dashboard", "/api/v1", "/static/js/app.js"))).ToArray(),
            RouteRequest.DeepPrefix => Enumerable.Range(0, RequestsPerKind).Select(i => Request(
                ExactHost(i),
                Of(i, "/api/v1/users/admin/roles/17/members/3", "/api/v1/users/9f8e7d6c/orders/2024/11/items", "/api/v1/users/admin/audit/2024/11/30/events"))).ToArray(),
            RouteRequest.Conditions => Enumerable.Range(0, RequestsPerKind).Select(i => (i % 4) switch
            {
                0 => Request(ExactHost(i), "/login", method: i % 8 == 0 ? "POST" : "GET"),
                1 => Request(ExactHost(i), "/api/v1/catalog", headers: ("x-canary", i % 8 == 1 ? "true" : "false")),
                2 => Request(ExactHost(i), "/api/v2/search", query: i % 8 == 2 ? "?q=shoes&beta=1" : "?q=shoes"),
                _ => Request(ExactHost(i), "/healthz"),
            }).ToArray(),
            RouteRequest.Regex => Enumerable.Range(0, RequestsPerKind).Select(i => Request(
                Host(0),
                large
                    ? Of(i, RegexPath(i % RegexRoutes), "/api/v1/users/42", RegexPath(i * 7 % RegexRoutes), "/static/img/logo.png")
                    : Of(i, "/items/12345", "/api/v1/users/42", "/items/abc", "/static/img/logo.png"))).ToArray(),
            RouteRequest.AnyHost => Enumerable.Range(0, RequestsPerKind).Select(i => i % 4 == 3
                ? Request("x" + Suffix(i), "/status/ready") // a suffix host whose routes do not match
                : Request(Of(i, "203.0.113.7:8080", "unknown.example.org", "[2001:db8::1]:443", "localhost"), Of(i / 4, "/status", "/favicon.ico", "/status/live", "/status/ready"))).ToArray(),
            RouteRequest.Miss => Enumerable.Range(0, RequestsPerKind).Select(i => Request(
                Of(i, "unknown.example.org", "203.0.113.7", "a.b.c.d.example.net"),
                Of(i, "/wp-login.php", "/api/v1/users/42", "/.env", "/x/y/z/w"))).ToArray(),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };

        if (requests.Length != RequestsPerKind)
        {
            throw new InvalidOperationException($"{kind}: {requests.Length} requests, not {RequestsPerKind}");
        }

        return requests;
    }

    /// <summary>Host <paramref name="h"/>: <c>svcN.example.com</c>, or every tenth <c>*.tenantN.example.net</c>.</summary>
    public static string Host(int h) =>
        h % 10 == 9
            ? string.Create(CultureInfo.InvariantCulture, $"*.tenant{h}.example.net")
            : string.Create(CultureInfo.InvariantCulture, $"svc{h}.example.com");

    private static string RegexPattern(int r) => (r % 3) switch
    {
        0 => string.Create(CultureInfo.InvariantCulture, $"/items{r}/[0-9]+"),
        1 => string.Create(CultureInfo.InvariantCulture, $"/users/[^/]+/orders{r}/[0-9]+"),
        _ => string.Create(CultureInfo.InvariantCulture, $"/files{r}/.+\\.(png|jpg|gif)"),
    };

    private static string RegexPath(int r) => (r % 3) switch
    {
        0 => string.Create(CultureInfo.InvariantCulture, $"/items{r}/12345"),
        1 => string.Create(CultureInfo.InvariantCulture, $"/users/alice/orders{r}/77"),
        _ => string.Create(CultureInfo.InvariantCulture, $"/files{r}/2024/photo.png"),
    };

    private static string Of(int i, params string[] values) => values[i % values.Length];

    private static ProxyRouteOptions Route(string host, string path, PathMatchType type)
    {
        var route = new ProxyRouteOptions { Path = path, PathType = type };
        if (host != "*")
        {
            route.Hosts.Add(host);
        }

        return route;
    }

    private static ProxyRouteOptions Methods(ProxyRouteOptions route, params string[] methods)
    {
        foreach (var method in methods)
        {
            route.Methods.Add(method);
        }

        return route;
    }

    private static ProxyRouteOptions Header(ProxyRouteOptions route, string name, string value)
    {
        route.Headers.Add(new ValueMatchOptions { Name = name, Value = value });
        return route;
    }

    private static HttpRequest Request(string host, string path, string method = "GET", string query = "", params (string Name, string Value)[] headers)
    {
        var context = new DefaultHttpContext();
        var request = context.Request;
        request.Method = method;
        request.Scheme = "https";
        request.Headers.Host = host;
        request.Path = path;
        request.QueryString = new QueryString(query);
        request.Headers.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
        request.Headers.Accept = "application/json, text/plain, */*";
        request.Headers["x-request-id"] = "0f8fad5b-d9cb-469f-a165-70867728950e";
        foreach (var (name, value) in headers)
        {
            request.Headers[name] = value;
        }

        return request;
    }
}
