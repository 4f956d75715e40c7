using k8s.Models;
using LoadBalancing.Proxy.Kubernetes.Ingress;
using LoadBalancing.Proxy.Kubernetes.Tests.Support;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Ingress;

/// <summary>
/// ingress-nginx annotations on our Ingresses: mapped where the proxy does exactly what ingress-nginx does, refused
/// with a named problem where it cannot, and every other one reported as ignored.
/// </summary>
public sealed class NginxAnnotationTests
{
    private const string Controller = "loadbalancing.dev/proxy";
    private const string N = NginxAnnotations.Prefix;

    [Theory]
    [InlineData("$http_x_user", HashKeySource.Header, "x-user")]
    [InlineData("$cookie_session", HashKeySource.Cookie, "session")]
    [InlineData("$arg_id", HashKeySource.QueryParameter, "id")]
    [InlineData("$remote_addr", HashKeySource.ClientIp, null)]
    [InlineData("$binary_remote_addr", HashKeySource.ClientIp, null)]
    [InlineData("$uri", HashKeySource.Path, null)]
    public void UpstreamHashBy_IsARingHashOnThatKey_InAClusterOfTheIngressOwn(string variable, HashKeySource source, string? name)
    {
        var result = Translate(Ingress("shop", new() { [N + "upstream-hash-by"] = variable }, Path("/", "web")));

        Assert.Empty(result.Problems);
        var route = Assert.Single(result.Set.Routes);
        Assert.Equal("ingress:a/web:http@a/shop", route.Cluster);
        var cluster = result.Set.Clusters[route.Cluster!];
        Assert.Equal((LoadBalancingAlgorithm.RingHash, source, name), (cluster.Algorithm, cluster.HashKey.Source, cluster.HashKey.Name));
        Assert.Equal(("a", "web", "http"), (cluster.Kubernetes!.Namespace, cluster.Kubernetes.Service, cluster.Kubernetes.Port));
        RouteSets.Validates(result.Set);
    }

    [Theory]
    [InlineData("$request_uri")]
    [InlineData("$host$uri")]
    [InlineData("$http_x_user-$arg_id")]
    [InlineData("$server_name")]
    public void UpstreamHashBy_OnAnythingElse_IsRefused_AndTheServiceClusterIsUsed(string variable)
    {
        var result = Translate(Ingress("shop", new() { [N + "upstream-hash-by"] = variable }, Path("/", "web")));

        Assert.Equal(
            $"annotation nginx.ingress.kubernetes.io/upstream-hash-by: '{variable}' is not supported; the proxy hashes on one of $http_NAME, $cookie_NAME, $arg_NAME, $remote_addr, $binary_remote_addr or $uri (alone, not combined with text or other variables); ignored.",
            Assert.Single(result.Problems).Problem);
        Assert.Equal("ingress:a/web:http", Assert.Single(result.Set.Routes).Cluster);
        Assert.Equal(LoadBalancingAlgorithm.RoundRobin, result.Set.Clusters["ingress:a/web:http"].Algorithm);
    }

    [Theory]
    [InlineData("round_robin", LoadBalancingAlgorithm.RoundRobin)]
    [InlineData("ewma", LoadBalancingAlgorithm.PeakEwma)]
    public void LoadBalance_MapsToTheAlgorithm(string value, LoadBalancingAlgorithm algorithm)
    {
        var result = Translate(Ingress("shop", new() { [N + "load-balance"] = value }, Path("/", "web")));

        Assert.Empty(result.Problems);
        Assert.Equal(algorithm, result.Set.Clusters[Assert.Single(result.Set.Routes).Cluster!].Algorithm);
        RouteSets.Validates(result.Set);
    }

    [Fact]
    public void LoadBalance_UnknownValue_IsRefused_AndWithUpstreamHashBy_IsOverridden()
    {
        var unknown = Translate(Ingress("shop", new() { [N + "load-balance"] = "least_conn" }, Path("/", "web")));
        var both = Translate(Ingress("shop", new() { [N + "load-balance"] = "ewma", [N + "upstream-hash-by"] = "$arg_id" }, Path("/", "web")));

        Assert.Equal("annotation nginx.ingress.kubernetes.io/load-balance: 'least_conn' is not supported; expected round_robin or ewma; ignored.", Assert.Single(unknown.Problems).Problem);
        Assert.Equal("ingress:a/web:http", Assert.Single(unknown.Set.Routes).Cluster);
        Assert.Equal("annotation nginx.ingress.kubernetes.io/load-balance: ignored because nginx.ingress.kubernetes.io/upstream-hash-by is set, as ingress-nginx does.", Assert.Single(both.Problems).Problem);
        Assert.Equal(LoadBalancingAlgorithm.RingHash, both.Set.Clusters[Assert.Single(both.Set.Routes).Cluster!].Algorithm);
    }

    [Fact]
    public void TwoIngresses_WithDifferentKeys_ForOneServicePort_DoNotShareACluster_AndAPlainOneKeepsTheSharedCluster()
    {
        var users = Ingress("users", new() { [N + "upstream-hash-by"] = "$http_x_user" }, Path("/users", "web"));
        var ids = Ingress("ids", new() { [N + "upstream-hash-by"] = "$arg_id" }, Path("/ids", "web"));
        var plain = Ingress("plain", new() { [N + "enable-cors"] = "true" }, Path("/plain", "web"));

        var result = Translate(users, ids, plain);

        Assert.Equal(
            [("/ids", "ingress:a/web:http@a/ids"), ("/plain", "ingress:a/web:http"), ("/users", "ingress:a/web:http@a/users")],
            result.Set.Routes.Select(r => (r.Path, r.Cluster!)));
        Assert.Equal(HashKeySource.Header, result.Set.Clusters["ingress:a/web:http@a/users"].HashKey.Source);
        Assert.Equal(HashKeySource.QueryParameter, result.Set.Clusters["ingress:a/web:http@a/ids"].HashKey.Source);
        Assert.Equal(HashKeySource.None, result.Set.Clusters["ingress:a/web:http"].HashKey.Source);
        Assert.Equal([("a/plain", "annotation nginx.ingress.kubernetes.io/enable-cors is not supported; ignored.")], result.Problems.Select(p => (p.Ingress, p.Problem)));
        RouteSets.Validates(result.Set);
    }

    [Fact]
    public void IngressAnnotations_OverrideTheServicePolicy()
    {
        var service = Service("web");
        service.Metadata.Annotations = new Dictionary<string, string> { ["loadbalancing.dev/algorithm"] = "Maglev", ["loadbalancing.dev/hash-key"] = "client-ip", ["loadbalancing.dev/connect-timeout"] = "3s" };

        var result = IngressTranslator.Translate([Ingress("shop", new() { [N + "load-balance"] = "ewma" }, Path("/", "web"))], Selector, [service]);

        Assert.Empty(result.Problems);
        var cluster = result.Set.Clusters["ingress:a/web:http@a/shop"];
        Assert.Equal((LoadBalancingAlgorithm.PeakEwma, HashKeySource.None, TimeSpan.FromSeconds(3)), (cluster.Algorithm, cluster.HashKey.Source, cluster.ConnectTimeout));
        RouteSets.Validates(result.Set);
    }

    [Fact]
    public void AffinityCookie_IsSessionAffinity_WithTheSessionCookieAnnotations_InAClusterOfTheIngressOwn()
    {
        var result = Translate(Ingress("shop", new()
        {
            [N + "affinity"] = "cookie",
            [N + "session-cookie-name"] = "route",
            [N + "session-cookie-path"] = "/shop",
            [N + "session-cookie-max-age"] = "3600",
            [N + "session-cookie-samesite"] = "Strict",
            [N + "session-cookie-secure"] = "true",
        }, Path("/", "web")));

        Assert.Empty(result.Problems);
        var route = Assert.Single(result.Set.Routes);
        Assert.Equal("ingress:a/web:http@a/shop", route.Cluster);
        var affinity = result.Set.Clusters[route.Cluster!].SessionAffinity!;
        Assert.Equal(
            ("route", "/shop", TimeSpan.FromHours(1), Microsoft.AspNetCore.Http.SameSiteMode.Strict, Microsoft.AspNetCore.Http.CookieSecurePolicy.Always),
            (affinity.CookieName, affinity.Path, affinity.MaxAge, affinity.SameSite, affinity.Secure));
        RouteSets.Validates(result.Set);
    }

    [Fact]
    public void AffinityCookie_Alone_TakesIngressNginxsDefaults()
    {
        var result = Translate(Ingress("shop", new() { [N + "affinity"] = "cookie", [N + "session-cookie-samesite"] = "None" }, Path("/", "web")));

        Assert.Empty(result.Problems);
        var affinity = result.Set.Clusters["ingress:a/web:http@a/shop"].SessionAffinity!;
        Assert.Equal(("INGRESSCOOKIE", "/", (TimeSpan?)null), (affinity.CookieName, affinity.Path, affinity.MaxAge));
        Assert.Equal(Microsoft.AspNetCore.Http.CookieSecurePolicy.Always, affinity.Secure); // SameSite=None needs it
        RouteSets.Validates(result.Set);
    }

    [Theory]
    [InlineData("affinity", "balanced", "annotation nginx.ingress.kubernetes.io/affinity: 'balanced' is not supported; expected cookie; requests are balanced without affinity.")]
    [InlineData("session-cookie-name", "my route", "annotation nginx.ingress.kubernetes.io/session-cookie-name: 'my route' is not a cookie name the proxy sets (letters, digits, '-' and '_'); requests are balanced without affinity.")]
    [InlineData("session-cookie-max-age", "1h", "annotation nginx.ingress.kubernetes.io/session-cookie-max-age: '1h' is not a whole number of seconds above 0; requests are balanced without affinity.")]
    [InlineData("session-cookie-samesite", "Sometimes", "annotation nginx.ingress.kubernetes.io/session-cookie-samesite: 'Sometimes' is not None, Lax or Strict; requests are balanced without affinity.")]
    public void AnAffinityAnnotationThatCannotBeHonoured_IsNamed_AndTheServicesClusterServes(string annotation, string value, string problem)
    {
        var annotations = new Dictionary<string, string> { [N + "affinity"] = "cookie", [N + annotation] = value };

        var result = Translate(Ingress("shop", annotations, Path("/", "web")));

        Assert.Equal(problem, Assert.Single(result.Problems).Problem);
        Assert.Equal("ingress:a/web:http", Assert.Single(result.Set.Routes).Cluster);
        Assert.Null(result.Set.Clusters["ingress:a/web:http"].SessionAffinity);
    }

    [Fact]
    public void SessionCookieAnnotations_WithoutAffinity_AreEachNamed()
    {
        var result = Translate(Ingress("shop", new() { [N + "session-cookie-name"] = "route", [N + "session-cookie-max-age"] = "60" }, Path("/", "web")));

        Assert.Equal(
            [
                "annotation nginx.ingress.kubernetes.io/session-cookie-name needs nginx.ingress.kubernetes.io/affinity: cookie, which turns affinity on; ignored.",
                "annotation nginx.ingress.kubernetes.io/session-cookie-max-age needs nginx.ingress.kubernetes.io/affinity: cookie, which turns affinity on; ignored.",
            ],
            result.Problems.Select(p => p.Problem));
    }

    [Fact]
    public void ProxyConnectTimeout_IsTheClusterConnectTimeout_ReadTimeoutTheRouteResponseHeaderTimeout_SendTimeoutIsRefused()
    {
        var result = Translate(Ingress(
            "shop",
            new() { [N + "proxy-connect-timeout"] = "7", [N + "proxy-read-timeout"] = "120", [N + "proxy-send-timeout"] = "120" },
            Path("/", "web")));

        var route = Assert.Single(result.Set.Routes);
        Assert.Equal(TimeSpan.FromSeconds(7), result.Set.Clusters[route.Cluster!].ConnectTimeout);
        Assert.Equal("ingress:a/web:http@a/shop", route.Cluster);
        Assert.Equal(TimeSpan.FromSeconds(120), route.Timeouts?.ResponseHeader);
        Assert.Equal(
            [
                "annotation nginx.ingress.kubernetes.io/proxy-read-timeout: applied to the wait for the response headers only; a stalled response body is cut after the cluster's IdleTimeout.",
                "annotation nginx.ingress.kubernetes.io/proxy-send-timeout: not supported (the proxy has no timeout between two writes to the upstream; the cluster's IdleTimeout bounds a stalled request body); ignored.",
            ],
            result.Problems.Select(p => p.Problem));
        RouteSets.Validates(result.Set);
    }

    [Theory]
    [InlineData("proxy-connect-timeout", "5s")]
    [InlineData("proxy-read-timeout", "0")]
    public void ATimeoutThatIsNotWholeSeconds_IsRefused(string annotation, string value)
    {
        var result = Translate(Ingress("shop", new() { [N + annotation] = value }, Path("/", "web")));

        Assert.Equal($"annotation nginx.ingress.kubernetes.io/{annotation}: '{value}' is not a whole number of seconds above 0; ignored.", Assert.Single(result.Problems).Problem);
        var route = Assert.Single(result.Set.Routes);
        Assert.Equal(("ingress:a/web:http", (RouteTimeoutOptions?)null), (route.Cluster, route.Timeouts));
    }

    [Fact]
    public void RewriteTarget_WithoutCaptures_ReplacesTheWholePath_AsNginxRewriteDoes()
    {
        var result = Translate(Ingress("shop", new() { [N + "rewrite-target"] = "/" }, Path("/app", "web"), Path("/exact", "web", "Exact")));

        Assert.Empty(result.Problems);
        Assert.Equal(
            [("/app", PathMatchType.Prefix, "/"), ("/exact", PathMatchType.Exact, "/")],
            result.Set.Routes.Select(r => (r.Path, r.PathType, r.Rewrite?.ReplaceFullPath)));
        Assert.All(result.Set.Routes, r => Assert.Null(r.Rewrite!.ReplacePrefixMatch));
        RouteSets.Validates(result.Set);
    }

    [Fact]
    public void RewriteTarget_Dollar2_OnThePrefixCapturePath_StripsThePrefix()
    {
        var result = Translate(Ingress("shop", new() { [N + "rewrite-target"] = "/$2", [N + "use-regex"] = "true" }, Path("/something(/|$)(.*)", "web", "ImplementationSpecific")));

        Assert.Empty(result.Problems);
        var route = Assert.Single(result.Set.Routes);
        Assert.Equal(("/something", PathMatchType.Prefix, "/", "ingress:a/web:http"), (route.Path, route.PathType, route.Rewrite?.ReplacePrefixMatch, route.Cluster));
        RouteSets.Validates(result.Set);
    }

    [Fact]
    public void UseRegex_ThePrefixCapturePath_IsAPrefix_WithoutRewrite()
    {
        var result = Translate(Ingress("shop", new() { [N + "use-regex"] = "true" }, Path("/api(/|$)(.*)", "web")));

        Assert.Empty(result.Problems);
        var route = Assert.Single(result.Set.Routes);
        Assert.Equal(("/api", PathMatchType.Prefix, (UrlRewriteOptions?)null), (route.Path, route.PathType, route.Rewrite));
    }

    [Fact]
    public void RewriteForms_TheProxyCannotExpress_AreRefused_AndTheirPathsAnswer503()
    {
        var captures = Translate(Ingress("captures", new() { [N + "rewrite-target"] = "/v2/$1" }, Path("/api/(.*)", "web")));
        var regex = Translate(Ingress("regex", new() { [N + "use-regex"] = "true" }, Path("/users/[0-9]+", "web"), Path("/plain", "web")));
        var noGroup = Translate(Ingress("nogroup", new() { [N + "rewrite-target"] = "/$2" }, Path("/plain", "web")));

        Assert.Equal(
            "annotation nginx.ingress.kubernetes.io/rewrite-target: '/v2/$1' is not supported; the proxy rewrites to a fixed path ('/app'), or strips a prefix written as ingress-nginx's path '/prefix(/|$)(.*)' with target '/$2'; its paths answer 503.",
            Assert.Single(captures.Problems).Problem);
        Assert.Equal(503, Assert.Single(captures.Set.Routes).DirectResponse?.StatusCode);
        Assert.Equal(
            "rules[0].http.paths[0]: path '/users/[0-9]+' is a regular expression the proxy does not route (only '/prefix(/|$)(.*)' is understood); the path answers 503.",
            Assert.Single(regex.Problems).Problem);
        Assert.Equal([503, null], regex.Set.Routes.Select(r => r.DirectResponse?.StatusCode));
        Assert.Equal(
            "rules[0].http.paths[0]: nginx.ingress.kubernetes.io/rewrite-target '/$2' needs a path '/prefix(/|$)(.*)'; '/plain' has no second group; the path answers 503.",
            Assert.Single(noGroup.Problems).Problem);
        RouteSets.Validates(captures.Set);
        RouteSets.Validates(regex.Set);
        RouteSets.Validates(noGroup.Set);
    }

    [Fact]
    public void EveryOtherNginxAnnotation_IsReportedOnce_AndOthersAreLeftAlone()
    {
        var result = Translate(Ingress(
            "shop",
            new() { [N + "enable-cors"] = "true", [N + "proxy-body-size"] = "8m", ["example.com/other"] = "x" },
            Path("/a", "web"), Path("/b", "web")));

        Assert.Equal(
            [
                "annotation nginx.ingress.kubernetes.io/enable-cors is not supported; ignored.",
                "annotation nginx.ingress.kubernetes.io/proxy-body-size is not supported; ignored.",
            ],
            result.Problems.Select(p => p.Problem));
        Assert.Equal(2, result.Set.Routes.Count);
    }

    [Theory]
    [InlineData("GRPC", UpstreamProtocol.Http2, false)]
    [InlineData("grpc", UpstreamProtocol.Http2, false)]
    [InlineData("HTTP", UpstreamProtocol.Http1, false)]
    [InlineData("HTTPS", UpstreamProtocol.Http1, true)]
    [InlineData("GRPCS", UpstreamProtocol.Http2, true)]
    public void BackendProtocol_SetsTheUpstreamProtocol_OverTlsUnverifiedAsIngressNginxDoes(string value, UpstreamProtocol protocol, bool tls)
    {
        var result = Translate(Ingress("shop", new() { [N + "backend-protocol"] = value, [N + "proxy-ssl-verify"] = "off" }, Path("/", "web")));

        var route = Assert.Single(result.Set.Routes);
        Assert.Equal("ingress:a/web:http@a/shop", route.Cluster);
        var cluster = result.Set.Clusters[route.Cluster!];
        Assert.Equal((protocol, tls, tls), (cluster.Protocol!.Value, cluster.Tls is not null, cluster.Tls?.SkipValidation ?? false));
        if (tls)
        {
            Assert.Equal($"annotation nginx.ingress.kubernetes.io/backend-protocol: '{value}': the backend's certificate is not verified, as ingress-nginx does without nginx.ingress.kubernetes.io/proxy-ssl-verify.", Assert.Single(result.Problems).Problem);
        }
        else
        {
            Assert.Equal("annotation nginx.ingress.kubernetes.io/proxy-ssl-verify is not supported; ignored.", Assert.Single(result.Problems).Problem);
        }

        RouteSets.Validates(result.Set);
    }

    [Theory]
    [InlineData("HTTPS", "on", "'HTTPS' with nginx.ingress.kubernetes.io/proxy-ssl-verify: on needs the CA of proxy-ssl-secret, which the proxy does not read; its paths answer 503 rather than reach the backend unverified.")]
    [InlineData("FCGI", null, "'FCGI' is not supported; expected HTTP, HTTPS, GRPC or GRPCS; its paths answer 503.")]
    [InlineData("AUTO_HTTP", null, "'AUTO_HTTP' is not supported; expected HTTP, HTTPS, GRPC or GRPCS; its paths answer 503.")]
    public void BackendProtocol_ThatCannotBeHonoured_AnswersEveryPath503(string value, string? verify, string problem)
    {
        var annotations = new Dictionary<string, string> { [N + "backend-protocol"] = value };
        if (verify is not null)
        {
            annotations[N + "proxy-ssl-verify"] = verify;
        }

        var result = Translate(Ingress("shop", annotations, Path("/", "web"), Path("/api", "web")));

        Assert.Equal("annotation nginx.ingress.kubernetes.io/backend-protocol: " + problem, Assert.Single(result.Problems).Problem);
        Assert.All(result.Set.Routes, r => Assert.Equal(503, r.DirectResponse?.StatusCode));
        Assert.Equal(2, result.Set.Routes.Count);
    }

    [Theory]
    [InlineData(new[] { "shop.test" }, null, null, true)]
    [InlineData(new[] { "*.test" }, null, null, true)]
    [InlineData(new string[0], null, null, true)]
    [InlineData(new[] { "other.test" }, null, null, false)]
    [InlineData(new[] { "a.shop.test" }, null, null, false)]
    [InlineData(new[] { "shop.test" }, "false", null, false)]
    [InlineData(null, null, "true", true)]
    [InlineData(new[] { "shop.test" }, "false", "true", true)]
    public void SslRedirect_APathOfATlsHost_RedirectsPlainHttpTo308Https_AndIsServedOnTheTlsPortsOnly(string[]? tlsHosts, string? sslRedirect, string? force, bool redirected)
    {
        var annotations = new Dictionary<string, string>();
        if (sslRedirect is not null)
        {
            annotations[N + "ssl-redirect"] = sslRedirect;
        }

        if (force is not null)
        {
            annotations[N + "force-ssl-redirect"] = force;
        }

        var ingress = Ingress("shop", annotations, Path("/", "web"));
        if (tlsHosts is not null)
        {
            ingress.Spec.Tls = [new V1IngressTLS { Hosts = tlsHosts.Length == 0 ? null : tlsHosts, SecretName = "shop-tls" }];
        }

        var result = IngressTranslator.Translate([ingress], Selector, [Service("web")], listeners: new IngressListeners(new HashSet<int> { 80, 8080 }, new HashSet<int> { 443 }));

        Assert.Empty(result.Problems);
        if (!redirected)
        {
            var only = Assert.Single(result.Set.Routes);
            Assert.Equal((null, 0), (only.Redirect, only.Ports.Count));
            return;
        }

        Assert.Equal(2, result.Set.Routes.Count);
        var redirect = result.Set.Routes.Single(r => r.Redirect is not null);
        Assert.Equal(("https", 308, null, "shop.test"), (redirect.Redirect!.Scheme, redirect.Redirect.StatusCode, redirect.Redirect.Port, Assert.Single(redirect.Hosts)));
        Assert.Equal([80, 8080], redirect.Ports);
        var forward = result.Set.Routes.Single(r => r.Redirect is null);
        Assert.Equal(("ingress:a/web:http", 443), (forward.Cluster, Assert.Single(forward.Ports)));
        RouteSets.Validates(result.Set);
    }

    [Fact]
    public void SslRedirect_NeedsListenersOfBothKinds_AndAnUnreadableValueKeepsTheDefault()
    {
        var tls = Ingress("shop", new() { [N + "ssl-redirect"] = "yes" }, Path("/", "web"));
        tls.Spec.Tls = [new V1IngressTLS { Hosts = ["shop.test"], SecretName = "shop-tls" }];

        var onlyTls = IngressTranslator.Translate([tls], Selector, [Service("web")], listeners: new IngressListeners(new HashSet<int>(), new HashSet<int> { 443 }));
        var unknown = IngressTranslator.Translate([tls], Selector, [Service("web")]);
        var both = IngressTranslator.Translate([tls], Selector, [Service("web")], listeners: new IngressListeners(new HashSet<int> { 80 }, new HashSet<int> { 443 }));

        Assert.Null(Assert.Single(onlyTls.Set.Routes).Redirect);
        Assert.Null(Assert.Single(unknown.Set.Routes).Redirect);
        Assert.Equal(2, both.Set.Routes.Count);
        Assert.Equal("annotation nginx.ingress.kubernetes.io/ssl-redirect: 'yes' is not true or false; true is used, as ingress-nginx's default.", Assert.Single(both.Problems).Problem);
    }

    private static readonly IngressClassSelector Selector = new([new V1IngressClass { Metadata = new() { Name = "lb" }, Spec = new() { Controller = Controller } }], Controller);

    private static IngressTranslation Translate(params V1Ingress[] ingresses) => IngressTranslator.Translate(ingresses, Selector, [Service("web")]);

    private static V1Ingress Ingress(string name, Dictionary<string, string> annotations, params V1HTTPIngressPath[] paths) => new()
    {
        Metadata = new V1ObjectMeta { NamespaceProperty = "a", Name = name, Annotations = annotations, CreationTimestamp = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc) },
        Spec = new V1IngressSpec { IngressClassName = "lb", Rules = [new V1IngressRule { Host = "shop.test", Http = new V1HTTPIngressRuleValue { Paths = paths } }] },
    };

    private static V1HTTPIngressPath Path(string path, string service, string pathType = "Prefix") => IngressTranslatorTests.Path(path, pathType, service, port: 80);

    private static V1Service Service(string name) => new()
    {
        Metadata = new V1ObjectMeta { NamespaceProperty = "a", Name = name },
        Spec = new V1ServiceSpec { Ports = [new V1ServicePort { Name = "http", Port = 80 }] },
    };
}
