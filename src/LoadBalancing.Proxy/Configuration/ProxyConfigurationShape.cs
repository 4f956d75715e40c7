using LoadBalancing.Configuration;
using static LoadBalancing.Configuration.ConfigurationValues;

namespace LoadBalancing.Proxy;

/// <summary>
/// Every key the <c>Proxy</c> section takes, written out so that reading it needs no reflection (the host is
/// published with NativeAOT) and a new option is one line here; <c>ProxyConfigurationShapeTests</c> checks that
/// every settable property of the options classes is listed.
/// </summary>
internal static class ProxyConfigurationShape
{
    private static readonly ConfigurationValue<TimeSpan> Duration = ConfigurationValues.Duration;

    public static readonly ObjectShape<LeastRequestOptions> LeastRequest = new ObjectShape<LeastRequestOptions>("LeastRequest")
        .Value("ChoiceCount", WholeNumber, (o, v) => o.ChoiceCount = v)
        .Value("ActiveRequestBias", Number, (o, v) => o.ActiveRequestBias = v);

    public static readonly ObjectShape<PeakEwmaOptions> PeakEwma = new ObjectShape<PeakEwmaOptions>("PeakEwma")
        .Value("DecayTime", Duration, (o, v) => o.DecayTime = v)
        .Value("DefaultRtt", Duration, (o, v) => o.DefaultRtt = v)
        .Value("PenaltyRtt", Duration, (o, v) => o.PenaltyRtt = v);

    public static readonly ObjectShape<MaglevOptions> Maglev = new ObjectShape<MaglevOptions>("Maglev")
        .Value("TableSize", WholeNumber, (o, v) => o.TableSize = v);

    public static readonly ObjectShape<RingHashOptions> RingHash = new ObjectShape<RingHashOptions>("RingHash")
        .Value("MinimumRingSize", WholeNumber, (o, v) => o.MinimumRingSize = v)
        .Value("MaximumRingSize", WholeNumber, (o, v) => o.MaximumRingSize = v);

    public static readonly ObjectShape<OutlierDetectionOptions> OutlierDetection = new ObjectShape<OutlierDetectionOptions>("OutlierDetection")
        .Value("Enabled", Flag, (o, v) => o.Enabled = v)
        .Value("ConsecutiveFailures", WholeNumber, (o, v) => o.ConsecutiveFailures = v)
        .Value("BaseEjectionTime", Duration, (o, v) => o.BaseEjectionTime = v)
        .Value("MaxEjectionTime", Duration, (o, v) => o.MaxEjectionTime = v)
        .Value("MaxEjectionPercent", Number, (o, v) => o.MaxEjectionPercent = v);

    public static readonly ObjectShape<SlowStartOptions> SlowStart = new ObjectShape<SlowStartOptions>("SlowStart")
        .Value("Window", Duration, (o, v) => o.Window = v)
        .Value("Aggression", Number, (o, v) => o.Aggression = v)
        .Value("MinWeightPercent", Number, (o, v) => o.MinWeightPercent = v);

    public static readonly ObjectShape<HealthCheckOptions> HealthCheck = new ObjectShape<HealthCheckOptions>("HealthCheck")
        .Value("Enabled", Flag, (o, v) => o.Enabled = v)
        .Value("Protocol", Enum<HealthCheckProtocol>("a health check protocol"), (o, v) => o.Protocol = v)
        .Value("Path", OptionalText, (o, v) => o.Path = v)
        .Value("Host", OptionalText, (o, v) => o.Host = v)
        .Value("ServiceName", OptionalText, (o, v) => o.ServiceName = v)
        .Value("Interval", Duration, (o, v) => o.Interval = v)
        .Value("Jitter", Optional(Duration), (o, v) => o.Jitter = v)
        .Value("Timeout", Duration, (o, v) => o.Timeout = v)
        .Value("HealthyThreshold", WholeNumber, (o, v) => o.HealthyThreshold = v)
        .Value("UnhealthyThreshold", WholeNumber, (o, v) => o.UnhealthyThreshold = v)
        .Value("ExpectedStatuses", OptionalText, (o, v) => o.ExpectedStatuses = v)
        .Value("Port", Optional(WholeNumber), (o, v) => o.Port = v)
        .Value("InitialState", Enum<HealthCheckInitialState>("a health check initial state"), (o, v) => o.InitialState = v)
        .Value("UseTls", Optional(Flag), (o, v) => o.UseTls = v);

    public static readonly ObjectShape<EndpointOptions> Endpoint = new ObjectShape<EndpointOptions>("an endpoint")
        .Value("Address", Text, (o, v) => o.Address = v)
        .Value("Weight", WholeNumber, (o, v) => o.Weight = v)
        .Value("Zone", OptionalText, (o, v) => o.Zone = v);

    public static readonly ObjectShape<HashKeyOptions> HashKey = new ObjectShape<HashKeyOptions>("HashKey")
        .Value("Source", Enum<HashKeySource>("a hash key source"), (o, v) => o.Source = v)
        .Value("Name", OptionalText, (o, v) => o.Name = v);

    public static readonly ObjectShape<SessionAffinityOptions> SessionAffinity = new ObjectShape<SessionAffinityOptions>("SessionAffinity")
        .Value("Enabled", Flag, (o, v) => o.Enabled = v)
        .Value("CookieName", Text, (o, v) => o.CookieName = v)
        .Value("Path", Text, (o, v) => o.Path = v)
        .Value("Domain", OptionalText, (o, v) => o.Domain = v)
        .Value("MaxAge", Optional(Duration), (o, v) => o.MaxAge = v)
        .Value("Secure", Enum<Microsoft.AspNetCore.Http.CookieSecurePolicy>("a cookie secure policy"), (o, v) => o.Secure = v)
        .Value("SameSite", Enum<Microsoft.AspNetCore.Http.SameSiteMode>("a SameSite mode"), (o, v) => o.SameSite = v)
        .Value("HttpOnly", Flag, (o, v) => o.HttpOnly = v);

    public static readonly ObjectShape<KubernetesServiceOptions> KubernetesService = new ObjectShape<KubernetesServiceOptions>("Kubernetes")
        .Value("Namespace", Text, (o, v) => o.Namespace = v)
        .Value("Service", Text, (o, v) => o.Service = v)
        .Value("Port", OptionalText, (o, v) => o.Port = v);

    public static readonly ObjectShape<GrpcOptions> Grpc = new ObjectShape<GrpcOptions>("Grpc")
        .List("FailureStatuses", Enum<GrpcStatusCode>("a gRPC status code name"), o => o.FailureStatuses ??= new List<GrpcStatusCode>())
        .Value("HonourDeadlines", Flag, (o, v) => o.HonourDeadlines = v);

    public static readonly ObjectShape<UpstreamTlsOptions> UpstreamTls = new ObjectShape<UpstreamTlsOptions>("Tls")
        .Value("Enabled", Flag, (o, v) => o.Enabled = v)
        .Value("ServerName", OptionalText, (o, v) => o.ServerName = v)
        .Value("CaFile", OptionalText, (o, v) => o.CaFile = v)
        .Value("ClientCertificateFile", OptionalText, (o, v) => o.ClientCertificateFile = v)
        .Value("ClientKeyFile", OptionalText, (o, v) => o.ClientKeyFile = v)
        .Value("MinimumProtocol", Enum<UpstreamTlsProtocol>("a TLS version"), (o, v) => o.MinimumProtocol = v)
        .Value("SkipValidation", Flag, (o, v) => o.SkipValidation = v);

    public static readonly ObjectShape<ClusterOptions> Cluster = new ObjectShape<ClusterOptions>("a cluster")
        .Value("Algorithm", Enum<LoadBalancingAlgorithm>("a balancing algorithm"), (o, v) => o.Algorithm = v)
        .Value("Protocol", Optional(Enum<UpstreamProtocol>("an upstream protocol")), (o, v) => o.Protocol = v)
        .Object("Grpc", Grpc, o => o.Grpc)
        .List("Endpoints", Endpoint, o => o.Endpoints)
        .Object("Kubernetes", KubernetesService, o => o.Kubernetes ??= new())
        .Object("HashKey", HashKey, o => o.HashKey)

        // "SessionAffinity": { } alone turns affinity on with its defaults, as "HealthCheck": { "Path": ... } turns a check on.
        .Object("SessionAffinity", SessionAffinity, o => o.SessionAffinity ??= new(), emptyIsPresent: true)
        .Value("Fallback", OptionalText, (o, v) => o.Fallback = v)
        .Value("PreserveHost", Flag, (o, v) => o.PreserveHost = v)

        // "Tls": { } alone turns TLS on (the system's roots, the endpoint's name), as an https destination would. The
        // configuration system reads JSON null the same way; turning TLS on by mistake fails loudly, the reverse would not.
        .Object("Tls", UpstreamTls, o => o.Tls ??= new(), emptyIsPresent: true)
        .Value("MaxAttempts", WholeNumber, (o, v) => o.MaxAttempts = v)
        .Value("ConnectTimeout", Duration, (o, v) => o.ConnectTimeout = v)
        .Value("ResponseHeaderTimeout", Duration, (o, v) => o.ResponseHeaderTimeout = v)
        .Value("IdleTimeout", Duration, (o, v) => o.IdleTimeout = v)
        .Value("PooledConnectionIdleTimeout", Duration, (o, v) => o.PooledConnectionIdleTimeout = v)
        .Value("MaxIdleConnectionsPerEndpoint", WholeNumber, (o, v) => o.MaxIdleConnectionsPerEndpoint = v)
        .Value("MaxConcurrentRequests", Optional(WholeNumber), (o, v) => o.MaxConcurrentRequests = v)
        .Value("MaxRequestsPerEndpoint", Optional(WholeNumber), (o, v) => o.MaxRequestsPerEndpoint = v)
        .Value("MaxResponseHeaderBytes", WholeNumber, (o, v) => o.MaxResponseHeaderBytes = v)
        .Object("LeastRequest", LeastRequest, o => o.LeastRequest)
        .Object("PeakEwma", PeakEwma, o => o.PeakEwma)
        .Object("Maglev", Maglev, o => o.Maglev)
        .Object("RingHash", RingHash, o => o.RingHash)
        .Value("HashBalanceFactor", Optional(Number), (o, v) => o.HashBalanceFactor = v)
        .Object("OutlierDetection", OutlierDetection, o => o.OutlierDetection)
        .Object("SlowStart", SlowStart, o => o.SlowStart)
        .Object("HealthCheck", HealthCheck, o => o.HealthCheck ??= new())
        .Value("PanicThresholdPercent", Number, (o, v) => o.PanicThresholdPercent = v)
        .Value("EndpointMetrics", Enum<EndpointMetricsMode>("an endpoint metrics mode"), (o, v) => o.EndpointMetrics = v);

    public static readonly ObjectShape<ListenerOptions> Listener = new ObjectShape<ListenerOptions>("a listener")
        .Value("Url", Text, (o, v) => o.Url = v)
        .Value("Protocols", Optional(Enum<ListenerProtocols>("a protocol set")), (o, v) => o.Protocols = v)
        .Value("CertificatePath", OptionalText, (o, v) => o.CertificatePath = v)
        .Value("CertificatePassword", OptionalText, (o, v) => o.CertificatePassword = v);

    public static readonly ObjectShape<AdminOptions> Admin = new ObjectShape<AdminOptions>("Admin")
        .Value("Enabled", Flag, (o, v) => o.Enabled = v)
        .Value("Url", Text, (o, v) => o.Url = v);

    public static readonly ObjectShape<ValueMatchOptions> ValueMatch = new ObjectShape<ValueMatchOptions>("a header or query parameter match")
        .Value("Name", Text, (o, v) => o.Name = v)
        .Value("Value", OptionalText, (o, v) => o.Value = v)
        .Value("Type", Enum<ValueMatchType>("a match type"), (o, v) => o.Type = v);

    public static readonly ObjectShape<WeightedClusterOptions> WeightedCluster = new ObjectShape<WeightedClusterOptions>("a backend")
        .Value("Cluster", Text, (o, v) => o.Cluster = v)
        .Value("Weight", WholeNumber, (o, v) => o.Weight = v);

    public static readonly ObjectShape<UrlRewriteOptions> Rewrite = new ObjectShape<UrlRewriteOptions>("Rewrite")
        .Value("Hostname", OptionalText, (o, v) => o.Hostname = v)
        .Value("ReplacePrefixMatch", OptionalText, (o, v) => o.ReplacePrefixMatch = v)
        .Value("ReplaceFullPath", OptionalText, (o, v) => o.ReplaceFullPath = v);

    public static readonly ObjectShape<RedirectOptions> Redirect = new ObjectShape<RedirectOptions>("Redirect")
        .Value("Scheme", OptionalText, (o, v) => o.Scheme = v)
        .Value("Hostname", OptionalText, (o, v) => o.Hostname = v)
        .Value("Port", Optional(WholeNumber), (o, v) => o.Port = v)
        .Value("ReplacePrefixMatch", OptionalText, (o, v) => o.ReplacePrefixMatch = v)
        .Value("ReplaceFullPath", OptionalText, (o, v) => o.ReplaceFullPath = v)
        .Value("StatusCode", WholeNumber, (o, v) => o.StatusCode = v);

    public static readonly ObjectShape<DirectResponseOptions> DirectResponse = new ObjectShape<DirectResponseOptions>("DirectResponse")
        .Value("StatusCode", WholeNumber, (o, v) => o.StatusCode = v)
        .Value("Body", OptionalText, (o, v) => o.Body = v)
        .Value("ContentType", Text, (o, v) => o.ContentType = v);

    public static readonly ObjectShape<HeaderValueOptions> HeaderValue = new ObjectShape<HeaderValueOptions>("a header")
        .Value("Name", Text, (o, v) => o.Name = v)
        .Value("Value", Text, (o, v) => o.Value = v);

    public static readonly ObjectShape<HeaderModifierOptions> HeaderModifier = new ObjectShape<HeaderModifierOptions>("a header modifier")
        .List("Set", HeaderValue, o => o.Set)
        .List("Add", HeaderValue, o => o.Add)
        .List("Remove", Text, o => o.Remove);

    public static readonly ObjectShape<RouteTimeoutOptions> RouteTimeouts = new ObjectShape<RouteTimeoutOptions>("Timeouts")
        .Value("Request", Optional(Duration), (o, v) => o.Request = v)
        .Value("ResponseHeader", Optional(Duration), (o, v) => o.ResponseHeader = v);

    public static readonly ObjectShape<RetryOptions> Retry = new ObjectShape<RetryOptions>("Retry")
        .Value("MaxAttempts", WholeNumber, (o, v) => o.MaxAttempts = v)
        .List("On", Text, o => o.On)
        .Value("BudgetPercent", Number, (o, v) => o.BudgetPercent = v)
        .Value("MinRetryConcurrency", WholeNumber, (o, v) => o.MinRetryConcurrency = v);

    public static readonly ObjectShape<ProxyRouteOptions> Route = new ObjectShape<ProxyRouteOptions>("a route")
        .Value("Name", OptionalText, (o, v) => o.Name = v)
        .List("Hosts", Text, o => o.Hosts)
        .Value("Path", Text, (o, v) => o.Path = v)
        .Value("PathType", Enum<PathMatchType>("a path match type"), (o, v) => o.PathType = v)
        .List("Methods", Text, o => o.Methods)
        .List("Ports", WholeNumber, o => o.Ports)
        .List("Headers", ValueMatch, o => o.Headers)
        .List("QueryParameters", ValueMatch, o => o.QueryParameters)
        .Value("Cluster", OptionalText, (o, v) => o.Cluster = v)
        .List("Backends", WeightedCluster, o => o.Backends)
        .Object("Rewrite", Rewrite, o => o.Rewrite ??= new())
        .Object("Redirect", Redirect, o => o.Redirect ??= new())
        .Object("DirectResponse", DirectResponse, o => o.DirectResponse ??= new())
        .Object("RequestHeaders", HeaderModifier, o => o.RequestHeaders ??= new())
        .Object("ResponseHeaders", HeaderModifier, o => o.ResponseHeaders ??= new())
        .Object("Timeouts", RouteTimeouts, o => o.Timeouts ??= new())
        .Object("Retry", Retry, o => o.Retry ??= new())
        .Value("AccessLogSampleRate", Optional(Number), (o, v) => o.AccessLogSampleRate = v)
        .Value("AuthorizationPolicy", OptionalText, (o, v) => o.AuthorizationPolicy = v)
        .Value("RateLimiterPolicy", OptionalText, (o, v) => o.RateLimiterPolicy = v)
        .Value("CorsPolicy", OptionalText, (o, v) => o.CorsPolicy = v);

    public static readonly ObjectShape<AccessLogOptions> AccessLog = new ObjectShape<AccessLogOptions>("AccessLog")
        .Value("Enabled", Flag, (o, v) => o.Enabled = v)
        .Value("Path", OptionalText, (o, v) => o.Path = v)
        .Value("Format", Enum<AccessLogFormat>("an access log format"), (o, v) => o.Format = v)
        .Value("Template", OptionalText, (o, v) => o.Template = v)
        .Value("SampleRate", Number, (o, v) => o.SampleRate = v);

    public static readonly ObjectShape<ProxyOptions> Proxy = new ObjectShape<ProxyOptions>("Proxy")
        .List("Listeners", Listener, o => o.Listeners)
        .Object("Admin", Admin, o => o.Admin)
        .List("Routes", Route, o => o.Routes)
        .Map("Clusters", Cluster, o => o.Clusters)
        .Value("MaxRequestBodySize", Optional(LongNumber), (o, v) => o.MaxRequestBodySize = v)
        .Value("DrainTimeout", Duration, (o, v) => o.DrainTimeout = v)
        .Value("Zone", OptionalText, (o, v) => o.Zone = v)
        .Value("TrustForwardedHeaders", Flag, (o, v) => o.TrustForwardedHeaders = v)
        .Object("AccessLog", AccessLog, o => o.AccessLog)
        .Value("Transport", Enum<ProxyTransport>("a transport"), (o, v) => o.Transport = v);
}
