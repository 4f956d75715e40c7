using System.Text.RegularExpressions;
using LoadBalancing.Proxy.Kubernetes.Gateway.Model;

namespace LoadBalancing.Proxy.Kubernetes.Gateway;

/// <summary>How specific a GRPCRoute match is: the characters of the service and of the method it names exactly.</summary>
internal readonly record struct GrpcPrecedence(int Service, int Method);

/// <summary>
/// GRPCRoute method matches as the path matches they mean (a call's path is <c>/service/method</c>, GEP-1016):
/// service and method exact → that exact path; one of them exact → an expression with the other any name; regular
/// expressions → <c>/(service)/(method)</c>, whole-path; no method match → every call (prefix <c>/</c>).
/// </summary>
internal static class GrpcMatches
{
    private const string AnyName = "[^/]+";

    /// <summary>The path matches, each match's precedence, and what cannot be served (the rule then answers UNAVAILABLE).</summary>
    public static (List<HttpRouteMatch> Matches, List<GrpcPrecedence> Precedence, List<string> Problems) ToPaths(IReadOnlyList<GrpcRouteMatch>? matches)
    {
        var paths = new List<HttpRouteMatch>();
        var precedence = new List<GrpcPrecedence>();
        var problems = new List<string>();
        foreach (var match in matches ?? [])
        {
            var (path, rank) = Path(match.Method, problems);
            paths.Add(new HttpRouteMatch { Path = path, Headers = match.Headers });
            precedence.Add(rank);
        }

        return (paths, precedence, problems);
    }

    private static (HttpPathMatch Path, GrpcPrecedence Rank) Path(GrpcMethodMatch? method, List<string> problems)
    {
        var service = string.IsNullOrEmpty(method?.Service) ? null : method.Service;
        var name = string.IsNullOrEmpty(method?.Method) ? null : method.Method;
        if (method is null || (service is null && name is null))
        {
            if (method is not null)
            {
                problems.Add("a method match needs a service, a method or both.");
            }

            return (new HttpPathMatch { Type = "PathPrefix", Value = "/" }, default);
        }

        switch (method.Type ?? "Exact")
        {
            case "Exact" when (service?.Contains('/', StringComparison.Ordinal) ?? false) || (name?.Contains('/', StringComparison.Ordinal) ?? false):
                problems.Add($"method match '{service}/{name}': an exact service or method has no '/'.");
                return (new HttpPathMatch { Type = "Exact", Value = "/" }, default);
            case "Exact" when service is not null && name is not null:
                return (new HttpPathMatch { Type = "Exact", Value = $"/{service}/{name}" }, new(service.Length, name.Length));
            case "Exact":
                var expression = $"/{(service is null ? AnyName : Regex.Escape(service))}/{(name is null ? AnyName : Regex.Escape(name))}";
                return (new HttpPathMatch { Type = "RegularExpression", Value = expression }, new(service?.Length ?? 0, name?.Length ?? 0));
            case "RegularExpression":
                return (new HttpPathMatch { Type = "RegularExpression", Value = $"/{(service is null ? AnyName : $"(?:{service})")}/{(name is null ? AnyName : $"(?:{name})")}" }, default);
            default:
                problems.Add($"method match type {method.Type} is not supported.");
                return (new HttpPathMatch { Type = "Exact", Value = "/" }, default);
        }
    }
}
