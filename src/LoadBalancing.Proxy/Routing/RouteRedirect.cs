using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Routing;

/// <summary>A route's redirect: the Location is the request's URL with the configured parts replaced.</summary>
internal sealed class RouteRedirect(RedirectOptions options, PathReplacement? path)
{
    public int StatusCode { get; } = options.StatusCode;

    /// <summary>The Location for this request. <paramref name="prefix"/> is the route's normalized prefix.</summary>
    public string Location(HttpContext context, string prefix)
    {
        var request = context.Request;
        var scheme = options.Scheme ?? request.Scheme;
        var requestHost = request.Host;
        var host = options.Hostname ?? requestHost.Host;
        int? port = options.Port;
        if (port is null && options.Scheme is null)
        {
            // Same scheme: keep the port the client used (a changed scheme implies its default port).
            port = requestHost.Port;
        }

        RequestTarget.Split(RequestTarget.OriginForm(context), out var rawPath, out var query);
        var newPath = path is null ? rawPath.ToString()
            : path.ReplacesPrefix ? path.Apply(RequestTarget.ForPrefix(context, rawPath, prefix), prefix)
            : path.Apply(rawPath, prefix);

        var defaultPort = string.Equals(scheme, "https", StringComparison.OrdinalIgnoreCase) ? 443 : 80;
        var authority = port is { } p && p != defaultPort
            ? string.Create(CultureInfo.InvariantCulture, $"{FormatHost(host)}:{p}")
            : FormatHost(host);
        return string.Create(CultureInfo.InvariantCulture, $"{scheme}://{authority}{newPath}{query}");
    }

    // An IPv6 literal keeps its brackets in a URL.
    private static string FormatHost(string host) =>
        host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? "[" + host + "]" : host;
}
