using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace LoadBalancing.Proxy;

/// <summary>Checks <see cref="ProxyOptions"/> and names the key of every problem.</summary>
internal static class ProxyOptionsValidation
{
    public const int MaxAttemptsLimit = 8;

    public static List<string> GetErrors(ProxyOptions options, string prefix)
    {
        var errors = new List<string>();
        if (options.Listeners.Count == 0)
        {
            errors.Add($"{prefix}:Listeners: at least one listener is needed (for example {{ \"Url\": \"http://127.0.0.1:8080\" }}).");
        }

        var addresses = new List<(string Key, Uri Uri)>();
        for (var i = 0; i < options.Listeners.Count; i++)
        {
            if (CheckListener(options.Listeners[i], $"{prefix}:Listeners:{i}", errors) is { } uri)
            {
                addresses.Add(($"{prefix}:Listeners:{i}:Url", uri));
            }
        }

        if (options.Admin.Enabled && CheckUrl(options.Admin.Url, $"{prefix}:Admin:Url", errors, allowHttps: false) is { } admin)
        {
            CheckPorts(addresses, ($"{prefix}:Admin:Url", admin), errors);
        }
        else
        {
            CheckPorts(addresses, admin: null, errors);
        }

        if (options.Zone is { } zone && string.IsNullOrWhiteSpace(zone))
        {
            errors.Add($"{prefix}:Zone must not be blank (leave it out to ignore topology hints).");
        }

        if (options.MaxRequestBodySize is < 0)
        {
            errors.Add($"{prefix}:MaxRequestBodySize must not be negative; got {options.MaxRequestBodySize}.");
        }

        if (options.DrainTimeout < TimeSpan.Zero)
        {
            errors.Add($"{prefix}:DrainTimeout must not be negative; got {options.DrainTimeout}.");
        }

        if (options.Transport == ProxyTransport.EventLoop && !OperatingSystem.IsLinux())
        {
            errors.Add($"{prefix}:Transport: EventLoop runs on Linux only (epoll); use Sockets on {System.Runtime.InteropServices.RuntimeInformation.OSDescription}.");
        }
        else if (!Enum.IsDefined(options.Transport))
        {
            errors.Add($"{prefix}:Transport must be Sockets or EventLoop; got {options.Transport}.");
        }

        AccessLog.AccessLogFormatter.Validate(options.AccessLog, $"{prefix}:AccessLog", errors);

        RouteValidation.Check(options, prefix, errors);

        foreach (var (name, cluster) in options.Clusters)
        {
            // Whether a cluster has endpoints is known only once the sources registered in code are: see CheckEndpoints.
            CheckCluster(name, cluster, $"{prefix}:Clusters:{name}", errors, requireEndpoints: false);
        }

        return errors;
    }

    /// <summary>
    /// Every cluster needs somewhere to send requests: static endpoints, a fallback, a Kubernetes Service, or an
    /// endpoint source registered in code (<c>IProxyBuilder.UseEndpointSource</c>), which options alone cannot show.
    /// </summary>
    public static void CheckEndpoints(ProxyOptions options, string prefix, Func<string, bool> fedInCode, List<string> errors)
    {
        foreach (var (name, cluster) in options.Clusters)
        {
            if (cluster.Kubernetes is null && !HasEndpoints(cluster) && !fedInCode(name))
            {
                errors.Add(NoEndpoints($"{prefix}:Clusters:{name}"));
            }
        }
    }

    private static bool HasEndpoints(ClusterOptions cluster) => cluster.Endpoints.Count > 0 || cluster.Fallback is not null;

    private static string NoEndpoints(string key) =>
        $"{key}:Endpoints: a cluster needs at least one endpoint, a Kubernetes Service, or an endpoint source registered in code (IProxyBuilder.UseEndpointSource).";

    private static Uri? CheckListener(ListenerOptions listener, string key, List<string> errors)
    {
        var uri = CheckUrl(listener.Url, $"{key}:Url", errors, allowHttps: true);
        if (uri is null)
        {
            return null;
        }

        if (uri.Scheme == Uri.UriSchemeHttps)
        {
            // Without a CertificatePath the certificates come from a ServerCertificateSource, registered after the
            // options are validated: whether there is one is checked when the listeners are set up.
            if (!string.IsNullOrEmpty(listener.CertificatePath) && !File.Exists(listener.CertificatePath))
            {
                errors.Add($"{key}:CertificatePath: file '{listener.CertificatePath}' does not exist.");
            }
        }
        else if (!string.IsNullOrEmpty(listener.CertificatePath))
        {
            errors.Add($"{key}:CertificatePath: a certificate needs an https URL; got '{listener.Url}'.");
        }

        return uri;
    }

    /// <summary>
    /// Two listeners on one address and port would fail at bind; a listener on the admin port on any address
    /// would be served the admin endpoints, which are told apart by port alone.
    /// </summary>
    private static void CheckPorts(List<(string Key, Uri Uri)> listeners, (string Key, Uri Uri)? admin, List<string> errors)
    {
        for (var j = 1; j < listeners.Count; j++)
        {
            for (var i = 0; i < j; i++)
            {
                var (earlier, later) = (listeners[i], listeners[j]);
                if (later.Uri.Port != 0 && later.Uri.Port == earlier.Uri.Port && Overlap(earlier.Uri, later.Uri))
                {
                    errors.Add($"{later.Key}: '{later.Uri.OriginalString}' takes port {later.Uri.Port} on an address {earlier.Key} ('{earlier.Uri.OriginalString}') already listens on; give each listener its own port.");
                    break;
                }
            }
        }

        if (admin is not { } a || a.Uri.Port == 0)
        {
            return;
        }

        foreach (var listener in listeners)
        {
            if (listener.Uri.Port == a.Uri.Port)
            {
                errors.Add($"{a.Key}: '{a.Uri.OriginalString}' takes port {a.Uri.Port}, which {listener.Key} ('{listener.Uri.OriginalString}') listens on; the admin endpoint needs a port of its own.");
                return;
            }
        }
    }

    /// <summary>Whether two listen addresses share an interface: equal, a wildcard (Kestrel binds [::] dual-stack), or localhost's loopbacks.</summary>
    private static bool Overlap(Uri a, Uri b)
    {
        var first = Addresses(a);
        var second = Addresses(b);
        foreach (var x in first)
        {
            foreach (var y in second)
            {
                if (x.Equals(y)
                    || x.Equals(IPAddress.IPv6Any) || y.Equals(IPAddress.IPv6Any)
                    || (x.Equals(IPAddress.Any) && y.AddressFamily == AddressFamily.InterNetwork)
                    || (y.Equals(IPAddress.Any) && x.AddressFamily == AddressFamily.InterNetwork))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static IPAddress[] Addresses(Uri uri) =>
        IPAddress.TryParse(uri.Host, out var address) ? [address] : [IPAddress.Loopback, IPAddress.IPv6Loopback];

    private static Uri? CheckUrl(string url, string key, List<string> errors, bool allowHttps)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && !(allowHttps && uri.Scheme == Uri.UriSchemeHttps))
            || uri.AbsolutePath != "/" || uri.IsDefaultPort && !url.Contains(":80", StringComparison.Ordinal) && !url.Contains(":443", StringComparison.Ordinal))
        {
            var schemes = allowHttps ? "http:// or https://" : "http://";
            errors.Add($"{key}: '{url}' is not a listen URL; expected {schemes}address:port with no path.");
            return null;
        }

        if (uri.HostNameType is not (UriHostNameType.IPv4 or UriHostNameType.IPv6) && !uri.IsLoopback)
        {
            errors.Add($"{key}: '{uri.Host}' is not an IP address; listen on an address such as 127.0.0.1, 0.0.0.0 or [::], or on localhost.");
            return null;
        }

        return uri;
    }

    internal static void CheckCluster(string name, ClusterOptions cluster, string key, List<string> errors, bool requireEndpoints = true)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            errors.Add($"{key}: a cluster needs a name.");
        }

        if (cluster.Kubernetes is { } kubernetes)
        {
            if (cluster.Endpoints.Count > 0)
            {
                errors.Add($"{key}:Endpoints: a cluster fed by Kubernetes ({key}:Kubernetes) takes no static endpoints.");
            }

            if (string.IsNullOrWhiteSpace(kubernetes.Service))
            {
                errors.Add($"{key}:Kubernetes:Service is required.");
            }
        }
        else if (requireEndpoints && !HasEndpoints(cluster))
        {
            errors.Add(NoEndpoints(key));
        }

        var addresses = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < cluster.Endpoints.Count; i++)
        {
            var endpoint = cluster.Endpoints[i];
            if (!HostPort.TryParse(endpoint.Address, out _, out _, out var error))
            {
                errors.Add($"{key}:Endpoints:{i}:Address {error}.");
            }
            else if (!addresses.Add(endpoint.Address))
            {
                errors.Add($"{key}:Endpoints:{i}:Address: '{endpoint.Address}' is listed twice.");
            }

            if (endpoint.Weight is < 1 or > BackendEndpoint.MaxWeight)
            {
                errors.Add($"{key}:Endpoints:{i}:Weight must be between 1 and {BackendEndpoint.MaxWeight}; got {endpoint.Weight}.");
            }
        }

        if (cluster.Fallback is not null && !HostPort.TryParse(cluster.Fallback, out _, out _, out var fallbackError))
        {
            errors.Add($"{key}:Fallback {fallbackError}.");
        }

        if (cluster.MaxAttempts is < 1 or > MaxAttemptsLimit)
        {
            errors.Add($"{key}:MaxAttempts must be between 1 and {MaxAttemptsLimit}; got {cluster.MaxAttempts}.");
        }

        Positive(cluster.ConnectTimeout, $"{key}:ConnectTimeout", errors);
        Positive(cluster.ResponseHeaderTimeout, $"{key}:ResponseHeaderTimeout", errors);
        Positive(cluster.IdleTimeout, $"{key}:IdleTimeout", errors);
        Positive(cluster.PooledConnectionIdleTimeout, $"{key}:PooledConnectionIdleTimeout", errors);
        if (cluster.MaxIdleConnectionsPerEndpoint < 0)
        {
            errors.Add($"{key}:MaxIdleConnectionsPerEndpoint must not be negative; got {cluster.MaxIdleConnectionsPerEndpoint}.");
        }

        if (cluster.MaxConcurrentRequests is < 1)
        {
            errors.Add($"{key}:MaxConcurrentRequests must be 1 or more (leave it out for no limit); got {cluster.MaxConcurrentRequests.Value.ToString(CultureInfo.InvariantCulture)}.");
        }

        if (cluster.MaxRequestsPerEndpoint is < 1)
        {
            errors.Add($"{key}:MaxRequestsPerEndpoint must be 1 or more (leave it out for no limit); got {cluster.MaxRequestsPerEndpoint.Value.ToString(CultureInfo.InvariantCulture)}.");
        }

        if (cluster.MaxResponseHeaderBytes is < 1024 or > 1024 * 1024)
        {
            errors.Add($"{key}:MaxResponseHeaderBytes must be between 1024 and 1048576; got {cluster.MaxResponseHeaderBytes.ToString(CultureInfo.InvariantCulture)}.");
        }

        if (cluster.Protocol is { } protocol && !Enum.IsDefined(protocol))
        {
            errors.Add($"{key}:Protocol must be Http1, Http2 or Auto; got {protocol}.");
        }

        foreach (var (status, index) in (cluster.Grpc.FailureStatuses ?? []).Select((s, i) => (s, i)))
        {
            if (!Enum.IsDefined(status))
            {
                errors.Add($"{key}:Grpc:FailureStatuses:{index.ToString(CultureInfo.InvariantCulture)} must be a gRPC status code (0 to 16); got {(int)status}.");
            }
        }

        if (!Enum.IsDefined(cluster.EndpointMetrics))
        {
            errors.Add($"{key}:EndpointMetrics must be Auto, On or Off; got {cluster.EndpointMetrics}.");
        }

        if (cluster.Tls is { Enabled: true } tls)
        {
            CheckTls(tls, $"{key}:Tls", errors);
        }

        var needsName = cluster.HashKey.Source is HashKeySource.Header or HashKeySource.Cookie or HashKeySource.QueryParameter;
        if (needsName && string.IsNullOrWhiteSpace(cluster.HashKey.Name))
        {
            errors.Add($"{key}:HashKey:Name is required when HashKey:Source is {cluster.HashKey.Source}.");
        }

        if (cluster.HashKey.Source != HashKeySource.None && cluster.Algorithm is not (LoadBalancingAlgorithm.Maglev or LoadBalancingAlgorithm.RingHash))
        {
            errors.Add($"{key}:HashKey: a request key only steers Maglev and RingHash; Algorithm is {cluster.Algorithm}.");
        }

        if (cluster.SessionAffinity is { } affinity)
        {
            CheckSessionAffinity(affinity, $"{key}:SessionAffinity", errors);
        }

        Health.HealthCheckSettings.Validate(cluster.HealthCheck, $"{key}:HealthCheck", errors);
        if (cluster.HealthCheck is { UseTls: true } && cluster.Tls is not { Enabled: true })
        {
            errors.Add($"{key}:HealthCheck:UseTls is true but the cluster has no Tls section: probes take its TLS settings from {key}:Tls.");
        }

        foreach (var error in cluster.ToBalancerOptions(fallback: null).GetValidationErrors())
        {
            // The core names keys with dots ("LeastRequest.ChoiceCount"); configuration paths use colons.
            var space = error.IndexOf(' ', StringComparison.Ordinal);
            var coreKey = (space < 0 ? error : error[..space]).Replace('.', ':');
            errors.Add($"{key}:{coreKey}{(space < 0 ? "" : error[space..])}");
        }
    }

    /// <summary>The TLS options, and the files they name read as the cluster will read them.</summary>
    private static void CheckTls(UpstreamTlsOptions tls, string key, List<string> errors)
    {
        if (!Enum.IsDefined(tls.MinimumProtocol))
        {
            errors.Add($"{key}:MinimumProtocol must be Tls12 or Tls13; got {tls.MinimumProtocol}.");
        }

        if (tls.ServerName is { } serverName && Uri.CheckHostName(serverName) != UriHostNameType.Dns)
        {
            errors.Add($"{key}:ServerName: '{serverName}' is not a host name; it is the name sent as SNI and checked against the certificate (leave it out to use the endpoint's own name).");
        }

        var withCertificate = !string.IsNullOrEmpty(tls.ClientCertificateFile);
        var withKey = !string.IsNullOrEmpty(tls.ClientKeyFile);
        if (withKey && !withCertificate)
        {
            errors.Add($"{key}:ClientKeyFile is set but {key}:ClientCertificateFile is not; a client certificate needs both (PEM, as a Kubernetes TLS Secret's tls.crt and tls.key).");
        }
        else if (withCertificate && !withKey)
        {
            errors.Add($"{key}:ClientCertificateFile is set but {key}:ClientKeyFile is not; a client certificate needs both (PEM, as a Kubernetes TLS Secret's tls.crt and tls.key).");
        }

        if (withCertificate != withKey)
        {
            return;
        }

        var problems = new List<(string Key, string Problem)>();
        Upstream.Tls.UpstreamTlsMaterial.Load(tls, problems);
        foreach (var (file, problem) in problems)
        {
            errors.Add($"{key}:{file}: {problem}");
        }
    }

    /// <summary>The cookie's name and attributes, each as RFC 6265 §4.1.1 lets a <c>Set-Cookie</c> carry it.</summary>
    private static void CheckSessionAffinity(SessionAffinityOptions affinity, string key, List<string> errors)
    {
        if (affinity.CookieName.Length == 0 || !affinity.CookieName.All(IsTokenChar))
        {
            errors.Add($"{key}:CookieName must be a cookie name (letters, digits and !#$%&'*+-.^_`|~); got '{affinity.CookieName}'.");
        }

        if (!affinity.Path.StartsWith('/') || !affinity.Path.All(IsAttributeChar))
        {
            errors.Add($"{key}:Path must start with '/' and hold no ';', space or control character; got '{affinity.Path}'.");
        }

        if (affinity.Domain is { } domain && (domain.Length == 0 || !domain.All(IsAttributeChar) || domain.Contains(',', StringComparison.Ordinal)))
        {
            errors.Add($"{key}:Domain must be a domain name (leave it out for the host that set the cookie); got '{domain}'.");
        }

        if (affinity.MaxAge is { } maxAge && maxAge < TimeSpan.FromSeconds(1))
        {
            errors.Add($"{key}:MaxAge must be 1 second or more (leave it out for a cookie that lasts the browser session); got {maxAge}.");
        }

        if (!Enum.IsDefined(affinity.Secure))
        {
            errors.Add($"{key}:Secure must be SameAsRequest, Always or None; got {affinity.Secure}.");
        }

        if (!Enum.IsDefined(affinity.SameSite))
        {
            errors.Add($"{key}:SameSite must be Lax, Strict, None or Unspecified; got {affinity.SameSite}.");
        }
        else if (affinity.SameSite == Microsoft.AspNetCore.Http.SameSiteMode.None && affinity.Secure != Microsoft.AspNetCore.Http.CookieSecurePolicy.Always)
        {
            errors.Add($"{key}:SameSite None needs Secure Always: browsers refuse a SameSite=None cookie that is not Secure; got Secure {affinity.Secure}.");
        }

        static bool IsTokenChar(char c) => c is > ' ' and < (char)0x7F && !"()<>@,;:\\\"/[]?={}".Contains(c, StringComparison.Ordinal);

        static bool IsAttributeChar(char c) => c is > ' ' and < (char)0x7F && c != ';';
    }

    private static void Positive(TimeSpan value, string key, List<string> errors)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{key} must be positive; got {value}.");
        }
    }
}
