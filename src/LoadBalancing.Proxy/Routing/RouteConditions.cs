using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace LoadBalancing.Proxy.Routing;

/// <summary>
/// What a route asks of a request besides its host and path: the method, the local port it arrived on, headers and
/// query parameters, all of which must match. Ports only filter: they play no part in precedence. Checked without allocating, except for a query value that needs percent-decoding.
/// A CORS preflight (<c>OPTIONS</c> with <c>Origin</c> and <c>Access-Control-Request-Method</c>) matches a configured
/// route's methods by the method it asks about, as ASP.NET Core's endpoints and YARP's routes do: the preflight goes
/// where the request it prepares will go. A route built from an object (one with an <c>Origin</c>: an HTTPRoute's) matches
/// the method exactly, as the Gateway API specifies.
/// </summary>
internal sealed class RouteConditions
{
    /// <summary>How long one regular expression may run on one request's value before it counts as not matching.</summary>
    public static readonly TimeSpan RegexTimeout = TimeSpan.FromMilliseconds(50);

    private readonly string[] _methods;
    private readonly bool _acceptsPreflight;
    private readonly int[] _ports;
    private readonly ValueCondition[] _headers;
    private readonly ValueCondition[] _query;

    public RouteConditions(ProxyRouteOptions route)
    {
        _methods = [.. route.Methods];
        _acceptsPreflight = route.Origin is null;
        _ports = [.. route.Ports.Distinct()];
        _headers = [.. route.Headers.Select(static h => new ValueCondition(h))];
        _query = [.. route.QueryParameters.Select(static q => new ValueCondition(q))];
    }

    public bool HasMethod => _methods.Length > 0;

    public int HeaderCount => _headers.Length;

    public int QueryCount => _query.Length;

    public bool IsEmpty => _methods.Length == 0 && _ports.Length == 0 && _headers.Length == 0 && _query.Length == 0;

    /// <summary>Regular-expression evaluations that ran out of time (each counted as not matching).</summary>
    public static long RegexTimeouts => Volatile.Read(ref s_regexTimeouts);

    private static long s_regexTimeouts;

    public bool Matches(HttpRequest request)
    {
        if (_methods.Length > 0 && !HasMethodOf(request.Method) && !IsPreflightForAMethod(request))
        {
            return false;
        }

        if (_ports.Length > 0 && Array.IndexOf(_ports, request.HttpContext.Connection.LocalPort) < 0)
        {
            return false;
        }

        foreach (var header in _headers)
        {
            if (!header.MatchesHeader(request.Headers))
            {
                return false;
            }
        }

        if (_query.Length > 0)
        {
            var query = request.QueryString.Value;
            foreach (var parameter in _query)
            {
                if (!parameter.MatchesQuery(query))
                {
                    return false;
                }
            }
        }

        return true;
    }

    // Methods are case-sensitive (RFC 9110 §9.1); Kestrel interns the common ones, so the compare is mostly a reference check.
    private bool HasMethodOf(string method)
    {
        foreach (var candidate in _methods)
        {
            if (string.Equals(candidate, method, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    // Off the hot path: only a request whose method the route does not list gets here.
    private bool IsPreflightForAMethod(HttpRequest request)
    {
        if (!_acceptsPreflight || !HttpMethods.IsOptions(request.Method) || !request.Headers.ContainsKey(HeaderNames.Origin))
        {
            return false;
        }

        var requested = request.Headers[HeaderNames.AccessControlRequestMethod];
        return requested.Count == 1 && requested[0] is { } method && HasMethodOf(method);
    }

    internal static bool IsFullMatch(Regex regex, ReadOnlySpan<char> value)
    {
        try
        {
            return regex.IsMatch(value);
        }
        catch (RegexMatchTimeoutException)
        {
            Interlocked.Increment(ref s_regexTimeouts);
            return false;
        }
    }

    /// <summary>An anchored pattern with a timeout: a route's expression must match the whole value.</summary>
    internal static Regex Anchored(string pattern) =>
        new("^(?:" + pattern + ")$", RegexOptions.CultureInvariant, RegexTimeout);

    private sealed class ValueCondition
    {
        private readonly string _name;
        private readonly string _value;
        private readonly ValueMatchType _type;
        private readonly Regex? _regex;

        public ValueCondition(ValueMatchOptions options)
        {
            _name = options.Name;
            _value = options.Value ?? "";
            _type = options.Type;
            _regex = options.Type == ValueMatchType.RegularExpression ? Anchored(_value) : null;
        }

        public bool MatchesHeader(IHeaderDictionary headers)
        {
            var values = headers[_name];
            switch (_type)
            {
                case ValueMatchType.Present:
                    return values.Count > 0;
                case ValueMatchType.Absent:
                    return values.Count == 0;
            }

            foreach (var value in values)
            {
                if (value is not null && Matches(value))
                {
                    return true;
                }
            }

            return false;
        }

        public bool MatchesQuery(string? query)
        {
            var found = QueryParameters.TryFind(query, _name, out var raw);
            switch (_type)
            {
                case ValueMatchType.Present:
                    return found;
                case ValueMatchType.Absent:
                    return !found;
            }

            if (!found)
            {
                return false;
            }

            // Values are compared decoded; most need no decoding, and those that do cost one string.
            return raw.IndexOfAny('%', '+') < 0 ? Matches(raw) : Matches(Uri.UnescapeDataString(raw.ToString().Replace('+', ' ')));
        }

        private bool Matches(ReadOnlySpan<char> value) =>
            _regex is null ? value.SequenceEqual(_value) : IsFullMatch(_regex, value);
    }
}
