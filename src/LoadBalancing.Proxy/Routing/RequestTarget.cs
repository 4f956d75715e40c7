using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace LoadBalancing.Proxy.Routing;

/// <summary>The request's path and query as the client sent them (still percent-encoded), for forwarding and redirects.</summary>
internal static class RequestTarget
{
    /// <summary>
    /// The origin-form target: Kestrel's raw target when it is one (no allocation), else rebuilt from the parsed path
    /// and query (absolute-form targets, and hosts that keep no raw target).
    /// </summary>
    public static string OriginForm(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (!string.IsNullOrEmpty(raw) && (raw[0] == '/' || raw == "*"))
        {
            return raw;
        }

        var request = context.Request;
        var path = (request.PathBase + request.Path).ToUriComponent();
        return (path.Length == 0 ? "/" : path) + request.QueryString.ToUriComponent();
    }

    /// <summary>Splits an origin-form target into its path and its query (with the <c>?</c>, or empty).</summary>
    public static void Split(string target, out ReadOnlySpan<char> path, out ReadOnlySpan<char> query)
    {
        var mark = target.IndexOf('?', StringComparison.Ordinal);
        path = mark < 0 ? target : target.AsSpan(0, mark);
        query = mark < 0 ? default : target.AsSpan(mark);
    }

    /// <summary>
    /// The path a prefix replacement applies to: the raw path when it starts with the (decoded) prefix and has no dot
    /// segments, as it nearly always does. Otherwise the path the route matched (decoded, dot segments removed by
    /// Kestrel): its prefix as is, which the replacement cuts off, followed by the rest re-encoded. So the prefix is
    /// found whatever the client escaped (a non-ASCII prefix always arrives escaped), and a raw
    /// <c>/v1/../../v1/x</c> cannot become <c>/v2/../../v1/x</c>, which an upstream would resolve outside <c>/v2</c>.
    /// </summary>
    public static ReadOnlySpan<char> ForPrefix(HttpContext context, ReadOnlySpan<char> rawPath, string prefix)
    {
        if (PathPrefix.IsMatch(prefix, rawPath) && !MayHaveDotSegment(rawPath))
        {
            return rawPath;
        }

        var path = context.Request.Path;
        if (prefix == "/" || !path.HasValue || !PathPrefix.IsMatch(prefix, path.Value))
        {
            return path.ToUriComponent();
        }

        return string.Concat(prefix, new PathString(path.Value[prefix.Length..]).ToUriComponent());
    }

    // "/." starts every dot segment ("/./", "/../", a final "/." or "/.."); "%2E" is a dot escaped. Either sends the
    // path the slow way, which is only a cost for names such as "/.well-known".
    private static bool MayHaveDotSegment(ReadOnlySpan<char> rawPath) =>
        rawPath.Contains("/.", StringComparison.Ordinal) || rawPath.Contains("%2e", StringComparison.OrdinalIgnoreCase);
}
