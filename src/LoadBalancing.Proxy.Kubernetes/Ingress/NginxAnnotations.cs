using System.Buffers;
using System.Globalization;
using System.Text.RegularExpressions;

namespace LoadBalancing.Proxy.Kubernetes.Ingress;

/// <summary>
/// The <c>nginx.ingress.kubernetes.io/*</c> annotations of one Ingress, mapped where the proxy can do exactly what
/// ingress-nginx does and refused (named in <see cref="Problems"/>) where it cannot; every other annotation under that
/// prefix is named as ignored.
/// </summary>
internal sealed partial class NginxAnnotations
{
    public const string Prefix = "nginx.ingress.kubernetes.io/";
    public const string UpstreamHashBy = Prefix + "upstream-hash-by";
    public const string LoadBalance = Prefix + "load-balance";
    public const string Affinity = Prefix + "affinity";
    public const string SessionCookieName = Prefix + "session-cookie-name";
    public const string SessionCookiePath = Prefix + "session-cookie-path";
    public const string SessionCookieMaxAge = Prefix + "session-cookie-max-age";
    public const string SessionCookieExpires = Prefix + "session-cookie-expires";
    public const string SessionCookieSameSite = Prefix + "session-cookie-samesite";
    public const string SessionCookieSecure = Prefix + "session-cookie-secure";

    /// <summary>ingress-nginx's default cookie name.</summary>
    public const string DefaultSessionCookieName = "INGRESSCOOKIE";

    private static readonly string[] SessionCookieAnnotations = [SessionCookieName, SessionCookiePath, SessionCookieMaxAge, SessionCookieExpires, SessionCookieSameSite, SessionCookieSecure];
    public const string RewriteTarget = Prefix + "rewrite-target";
    public const string UseRegex = Prefix + "use-regex";
    public const string ProxyConnectTimeout = Prefix + "proxy-connect-timeout";
    public const string ProxyReadTimeout = Prefix + "proxy-read-timeout";
    public const string ProxySendTimeout = Prefix + "proxy-send-timeout";
    public const string BackendProtocol = Prefix + "backend-protocol";
    public const string SslRedirect = Prefix + "ssl-redirect";
    public const string ForceSslRedirect = Prefix + "force-ssl-redirect";
    public const string ProxySslVerify = Prefix + "proxy-ssl-verify";

    private static readonly SearchValues<char> NameCharacters = SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

    private NginxAnnotations()
    {
    }

    /// <summary>What the annotations change in the Ingress's clusters; null when nothing (the Service's cluster is shared).</summary>
    public Action<ClusterOptions>? Cluster { get; private set; }

    /// <summary><c>proxy-read-timeout</c>: the route's wait for the response headers.</summary>
    public TimeSpan? ResponseHeaderTimeout { get; private set; }

    /// <summary><c>rewrite-target</c>; null when absent or refused.</summary>
    public string? Rewrite { get; private set; }

    /// <summary>Whether a <c>rewrite-target</c> was given but refused: its paths answer 503 rather than reach the backend unrewritten.</summary>
    public bool RewriteRefused { get; private set; }

    /// <summary>Whether a <c>backend-protocol</c> was given but refused: its paths answer 503 rather than reach the backend in another protocol.</summary>
    public bool BackendRefused { get; private set; }

    /// <summary>Whether paths are regular expressions (<c>use-regex: "true"</c>, or implied by <c>rewrite-target</c>, as in ingress-nginx).</summary>
    public bool Regex { get; private set; }

    /// <summary><c>ssl-redirect</c>: whether plain-HTTP requests for the Ingress's TLS hosts are redirected to HTTPS. Default true, as in ingress-nginx.</summary>
    public bool RedirectTlsHosts { get; private set; } = true;

    /// <summary><c>force-ssl-redirect</c>: whether plain-HTTP requests for every host of the Ingress are redirected. Default false.</summary>
    public bool RedirectAllHosts { get; private set; }

    /// <summary>Each annotation refused or ignored, once, naming it.</summary>
    public List<string> Problems { get; } = [];

    // ingress-nginx's own example: /something(/|$)(.*) with rewrite-target /$2 strips the prefix.
    [GeneratedRegex(@"^(?<prefix>/[A-Za-z0-9\-._~!&'*,;=:@%/]*?)\(/\|\$\)\(\.\*\)$", RegexOptions.CultureInvariant)]
    private static partial Regex StripPrefixPath();

    [GeneratedRegex(@"[\\^$.|?*+()\[\]{}]", RegexOptions.CultureInvariant)]
    private static partial Regex RegexSyntax();

    public static NginxAnnotations Read(IDictionary<string, string>? annotations)
    {
        var result = new NginxAnnotations();
        if (annotations is null)
        {
            return result;
        }

        var ours = annotations.Where(a => a.Key.StartsWith(Prefix, StringComparison.Ordinal)).ToDictionary(a => a.Key, a => a.Value.Trim(), StringComparer.Ordinal);
        var changes = new List<Action<ClusterOptions>>();

        if (ours.TryGetValue(UpstreamHashBy, out var hashBy))
        {
            if (HashKey(hashBy) is { } key)
            {
                // ingress-nginx hashes consistently (ketama over the endpoints) whatever load-balance says.
                changes.Add(c =>
                {
                    c.Algorithm = LoadBalancingAlgorithm.RingHash;
                    c.HashKey = new HashKeyOptions { Source = key.Source, Name = key.Name };
                });
            }
            else
            {
                result.Problems.Add($"annotation {UpstreamHashBy}: '{hashBy}' is not supported; the proxy hashes on one of $http_NAME, $cookie_NAME, $arg_NAME, $remote_addr, $binary_remote_addr or $uri (alone, not combined with text or other variables); ignored.");
            }
        }

        if (ours.TryGetValue(LoadBalance, out var balance))
        {
            LoadBalancingAlgorithm? algorithm = balance switch
            {
                "round_robin" => LoadBalancingAlgorithm.RoundRobin,
                "ewma" => LoadBalancingAlgorithm.PeakEwma,
                _ => null,
            };
            if (algorithm is null)
            {
                result.Problems.Add($"annotation {LoadBalance}: '{balance}' is not supported; expected round_robin or ewma; ignored.");
            }
            else if (hashBy is not null)
            {
                result.Problems.Add($"annotation {LoadBalance}: ignored because {UpstreamHashBy} is set, as ingress-nginx does.");
            }
            else
            {
                changes.Add(c =>
                {
                    c.Algorithm = algorithm.Value;
                    c.HashKey = new HashKeyOptions();
                });
            }
        }

        if (ours.TryGetValue(Affinity, out var affinity))
        {
            if (affinity != "cookie")
            {
                result.Problems.Add($"annotation {Affinity}: '{affinity}' is not supported; expected cookie; requests are balanced without affinity.");
            }
            else if (SessionCookie(ours, result.Problems) is { } cookie)
            {
                changes.Add(c => c.SessionAffinity = cookie());
            }
        }
        else
        {
            foreach (var orphan in SessionCookieAnnotations.Where(ours.ContainsKey))
            {
                result.Problems.Add($"annotation {orphan} needs {Affinity}: cookie, which turns affinity on; ignored.");
            }
        }

        if (ours.TryGetValue(ProxyConnectTimeout, out var connect))
        {
            if (Seconds(connect) is { } timeout)
            {
                changes.Add(c => c.ConnectTimeout = timeout);
            }
            else
            {
                result.Problems.Add($"annotation {ProxyConnectTimeout}: '{connect}' is not a whole number of seconds above 0; ignored.");
            }
        }

        if (ours.TryGetValue(ProxyReadTimeout, out var read))
        {
            if (Seconds(read) is { } timeout)
            {
                result.ResponseHeaderTimeout = timeout;
                result.Problems.Add($"annotation {ProxyReadTimeout}: applied to the wait for the response headers only; a stalled response body is cut after the cluster's IdleTimeout.");
            }
            else
            {
                result.Problems.Add($"annotation {ProxyReadTimeout}: '{read}' is not a whole number of seconds above 0; ignored.");
            }
        }

        if (ours.ContainsKey(ProxySendTimeout))
        {
            result.Problems.Add($"annotation {ProxySendTimeout}: not supported (the proxy has no timeout between two writes to the upstream; the cluster's IdleTimeout bounds a stalled request body); ignored.");
        }

        result.RedirectTlsHosts = Flag(ours, SslRedirect, true, result.Problems);
        result.RedirectAllHosts = Flag(ours, ForceSslRedirect, false, result.Problems);
        var verifyKnown = false;
        if (ours.TryGetValue(BackendProtocol, out var backendProtocol))
        {
            verifyKnown = Backend(backendProtocol, ours, result, changes);
        }

        result.Regex = ours.TryGetValue(UseRegex, out var regex) && string.Equals(regex, "true", StringComparison.OrdinalIgnoreCase);
        if (ours.TryGetValue(RewriteTarget, out var target))
        {
            result.Regex = true;
            if (target.Length == 0 || target[0] != '/' || target.Contains('?', StringComparison.Ordinal)
                || (target.Contains('$', StringComparison.Ordinal) && target != "/$2"))
            {
                result.RewriteRefused = true;
                result.Problems.Add($"annotation {RewriteTarget}: '{target}' is not supported; the proxy rewrites to a fixed path ('/app'), or strips a prefix written as ingress-nginx's path '/prefix(/|$)(.*)' with target '/$2'; its paths answer 503.");
            }
            else
            {
                result.Rewrite = target;
            }
        }

        foreach (var key in ours.Keys.Order(StringComparer.Ordinal))
        {
            if (key is not (UpstreamHashBy or LoadBalance or Affinity or RewriteTarget or UseRegex or ProxyConnectTimeout or ProxyReadTimeout or ProxySendTimeout or BackendProtocol or SslRedirect or ForceSslRedirect)
                && !SessionCookieAnnotations.Contains(key) && !(key == ProxySslVerify && verifyKnown))
            {
                result.Problems.Add($"annotation {key} is not supported; ignored.");
            }
        }

        if (changes.Count > 0)
        {
            result.Cluster = c =>
            {
                foreach (var change in changes)
                {
                    change(c);
                }
            };
        }

        return result;
    }

    /// <summary>
    /// Applies the rewrite and regex semantics to one path: its match (path and type) and rewrite, or why it cannot be
    /// routed as ingress-nginx would route it.
    /// </summary>
    public string? Shape(ProxyRouteOptions route)
    {
        // A refused rewrite-target was reported once; every path of the Ingress answers 503 for it.
        if (!Regex || RewriteRefused)
        {
            return null;
        }

        if (StripPrefixPath().Match(route.Path) is { Success: true } strip && !RegexSyntax().IsMatch(strip.Groups["prefix"].Value))
        {
            if (Rewrite is not ("/$2" or null))
            {
                return $"path '{route.Path}' with {RewriteTarget} '{Rewrite}' is not supported (only '/$2' strips the prefix)";
            }

            route.Path = strip.Groups["prefix"].Value is { Length: > 1 } prefix ? prefix.TrimEnd('/') : "/";
            route.PathType = PathMatchType.Prefix;
            if (Rewrite is not null)
            {
                route.Rewrite = new UrlRewriteOptions { ReplacePrefixMatch = "/" };
            }

            return null;
        }

        if (RegexSyntax().IsMatch(route.Path))
        {
            return $"path '{route.Path}' is a regular expression the proxy does not route (only '/prefix(/|$)(.*)' is understood)";
        }

        if (Rewrite == "/$2")
        {
            return $"{RewriteTarget} '/$2' needs a path '/prefix(/|$)(.*)'; '{route.Path}' has no second group";
        }

        if (Rewrite is not null)
        {
            // nginx's rewrite replaces the whole URI when the location's regex matches; the query string is kept.
            route.Rewrite = new UrlRewriteOptions { ReplaceFullPath = Rewrite };
        }

        return null;
    }

    /// <summary>
    /// <c>backend-protocol</c>: <c>HTTP</c> → HTTP/1.1, <c>GRPC</c> → h2c, <c>HTTPS</c> and <c>GRPCS</c> → the same over TLS
    /// without verifying the backend's certificate, which is what ingress-nginx does unless <c>proxy-ssl-verify</c> is
    /// on; with it on, and for any other value, refused and the paths answer 503 (sent in another protocol, or
    /// unverified, they would be wrong). True when <c>proxy-ssl-verify</c> was read here.
    /// </summary>
    private static bool Backend(string value, Dictionary<string, string> ours, NginxAnnotations result, List<Action<ClusterOptions>> changes)
    {
        var protocol = value.Trim().ToUpperInvariant();
        var tls = protocol is "HTTPS" or "GRPCS";
        var verify = ours.TryGetValue(ProxySslVerify, out var v) && string.Equals(v.Trim(), "on", StringComparison.OrdinalIgnoreCase);
        if (protocol is not ("HTTP" or "GRPC" or "HTTPS" or "GRPCS"))
        {
            result.BackendRefused = true;
            result.Problems.Add($"annotation {BackendProtocol}: '{value}' is not supported; expected HTTP, HTTPS, GRPC or GRPCS; its paths answer 503.");
            return false;
        }

        if (tls && verify)
        {
            result.BackendRefused = true;
            result.Problems.Add($"annotation {BackendProtocol}: '{value}' with {ProxySslVerify}: on needs the CA of proxy-ssl-secret, which the proxy does not read; its paths answer 503 rather than reach the backend unverified.");
            return true;
        }

        var upstream = protocol.StartsWith("GRPC", StringComparison.Ordinal) ? UpstreamProtocol.Http2 : UpstreamProtocol.Http1;
        changes.Add(c =>
        {
            c.Protocol = upstream;
            c.Tls = tls ? new UpstreamTlsOptions { SkipValidation = true } : null;
        });
        if (tls)
        {
            result.Problems.Add($"annotation {BackendProtocol}: '{value}': the backend's certificate is not verified, as ingress-nginx does without {ProxySslVerify}.");
        }

        return tls;
    }

    /// <summary>A <c>"true"</c>/<c>"false"</c> annotation; anything else keeps <paramref name="fallback"/> and is reported.</summary>
    private static bool Flag(Dictionary<string, string> ours, string key, bool fallback, List<string> problems)
    {
        if (!ours.TryGetValue(key, out var text))
        {
            return fallback;
        }

        if (bool.TryParse(text.Trim(), out var value))
        {
            return value;
        }

        problems.Add($"annotation {key}: '{text}' is not true or false; {(fallback ? "true" : "false")} is used, as ingress-nginx's default.");
        return fallback;
    }

    /// <summary>The hash key one nginx variable names; null when the proxy cannot hash on it.</summary>
    private static HashKeyOptions? HashKey(string variable)
    {
        static string? Name(string variable, string prefix) =>
            variable.StartsWith(prefix, StringComparison.Ordinal) && variable.Length > prefix.Length && variable.AsSpan(prefix.Length).IndexOfAnyExcept(NameCharacters) < 0
                ? variable[prefix.Length..]
                : null;

        if (Name(variable, "$http_") is { } header)
        {
            // nginx names $http_ variables by the header lowercased with '-' as '_'.
            return new HashKeyOptions { Source = HashKeySource.Header, Name = header.Replace('_', '-') };
        }

        if (Name(variable, "$cookie_") is { } cookie)
        {
            return new HashKeyOptions { Source = HashKeySource.Cookie, Name = cookie };
        }

        if (Name(variable, "$arg_") is { } argument)
        {
            return new HashKeyOptions { Source = HashKeySource.QueryParameter, Name = argument };
        }

        return variable switch
        {
            "$remote_addr" or "$binary_remote_addr" => new HashKeyOptions { Source = HashKeySource.ClientIp },
            "$uri" => new HashKeyOptions { Source = HashKeySource.Path },
            _ => null,
        };
    }

    /// <summary>
    /// The session cookie ingress-nginx's <c>session-cookie-*</c> annotations describe, as a factory (each cluster gets
    /// its own options); null, with the problem named, when one of them cannot be honoured exactly.
    /// </summary>
    private static Func<SessionAffinityOptions>? SessionCookie(Dictionary<string, string> ours, List<string> problems)
    {
        var name = ours.GetValueOrDefault(SessionCookieName) ?? DefaultSessionCookieName;
        if (name.Length == 0 || name.AsSpan().IndexOfAnyExcept(NameCharacters) >= 0)
        {
            problems.Add($"annotation {SessionCookieName}: '{name}' is not a cookie name the proxy sets (letters, digits, '-' and '_'); requests are balanced without affinity.");
            return null;
        }

        var path = ours.GetValueOrDefault(SessionCookiePath) ?? "/";
        if (path.Length == 0 || path[0] != '/' || path.AsSpan().IndexOfAny(";, \t") >= 0)
        {
            problems.Add($"annotation {SessionCookiePath}: '{path}' is not a cookie path; requests are balanced without affinity.");
            return null;
        }

        // Max-Age wins over Expires in browsers; ingress-nginx takes both as seconds.
        var lifetime = ours.GetValueOrDefault(SessionCookieMaxAge) ?? ours.GetValueOrDefault(SessionCookieExpires);
        TimeSpan? maxAge = null;
        if (lifetime is not null && (maxAge = Seconds(lifetime)) is null)
        {
            problems.Add($"annotation {(ours.ContainsKey(SessionCookieMaxAge) ? SessionCookieMaxAge : SessionCookieExpires)}: '{lifetime}' is not a whole number of seconds above 0; requests are balanced without affinity.");
            return null;
        }

        Microsoft.AspNetCore.Http.SameSiteMode? sameSite = ours.GetValueOrDefault(SessionCookieSameSite) switch
        {
            null => Microsoft.AspNetCore.Http.SameSiteMode.Lax,
            var v when v.Equals("None", StringComparison.OrdinalIgnoreCase) => Microsoft.AspNetCore.Http.SameSiteMode.None,
            var v when v.Equals("Lax", StringComparison.OrdinalIgnoreCase) => Microsoft.AspNetCore.Http.SameSiteMode.Lax,
            var v when v.Equals("Strict", StringComparison.OrdinalIgnoreCase) => Microsoft.AspNetCore.Http.SameSiteMode.Strict,
            _ => null,
        };
        if (sameSite is null)
        {
            problems.Add($"annotation {SessionCookieSameSite}: '{ours[SessionCookieSameSite]}' is not None, Lax or Strict; requests are balanced without affinity.");
            return null;
        }

        // SameSite=None is refused by browsers without Secure: it implies it here.
        var secure = string.Equals(ours.GetValueOrDefault(SessionCookieSecure), "true", StringComparison.OrdinalIgnoreCase) || sameSite == Microsoft.AspNetCore.Http.SameSiteMode.None
            ? Microsoft.AspNetCore.Http.CookieSecurePolicy.Always
            : Microsoft.AspNetCore.Http.CookieSecurePolicy.SameAsRequest;
        return () => new SessionAffinityOptions { CookieName = name, Path = path, MaxAge = maxAge, SameSite = sameSite.Value, Secure = secure };
    }

    private static TimeSpan? Seconds(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0 ? TimeSpan.FromSeconds(seconds) : null;
}
