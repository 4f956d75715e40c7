using System.Globalization;
using System.Text;
using LoadBalancing.Proxy;

namespace ProxyHost;

/// <summary>What the host is running with, in one screen, logged once it listens.</summary>
internal static partial class StartupSummary
{
    private const int EndpointsShown = 4;

    public static void Log(ILogger logger, ProxyOptions options, ProxyListeners listeners, string? configFile, DemoBackends? backends) =>
        Started(logger, Describe(options, listeners, configFile, backends));

    /// <summary>One route on one line: its name, what it matches and what it does.</summary>
    internal static string DescribeRoute(ProxyRouteOptions route, int index)
    {
        var text = new StringBuilder();
        text.Append(string.IsNullOrEmpty(route.Name) ? $"route-{index}" : route.Name).Append(": ");
        text.Append("host ").Append(route.Hosts.Count == 0 ? "*" : string.Join(",", route.Hosts));
        text.Append(' ').Append(route.PathType switch { PathMatchType.Exact => "path =", PathMatchType.RegularExpression => "path ~", _ => "path" });
        text.Append(' ').Append(route.Path);
        if (route.Methods.Count > 0)
        {
            text.Append(" methods ").Append(string.Join(",", route.Methods));
        }

        if (route.Ports.Count > 0)
        {
            text.Append(" ports ").Append(string.Join(",", route.Ports));
        }

        var conditions = route.Headers.Count + route.QueryParameters.Count;
        if (conditions > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $" +{conditions} header/query conditions");
        }

        text.Append(" -> ").Append(
            route.Redirect is { } redirect ? $"redirect {redirect.StatusCode}"
            : route.DirectResponse is { } direct ? $"respond {direct.StatusCode}"
            : route.Backends.Count > 0 ? string.Join(" + ", route.Backends.Select(b => $"{b.Cluster} ({b.Weight})"))
            : route.Cluster);
        return text.ToString();
    }

    internal static string Describe(ProxyOptions options, ProxyListeners listeners, string? configFile, DemoBackends? backends)
    {
        var text = new StringBuilder();
        for (var i = 0; i < listeners.Proxy.Count; i++)
        {
            var configured = i < options.Listeners.Count ? options.Listeners[i] : null;
            var scheme = configured?.Url.StartsWith("https:", StringComparison.OrdinalIgnoreCase) == true ? "https" : "http";
            Line(text, i == 0 ? "listeners" : "", $"{scheme}://{listeners.Proxy[i].IPEndPoint} ({configured?.Protocols?.ToString() ?? "default protocols"})");
        }

        Line(text, "transport", options.Transport == ProxyTransport.EventLoop
            ? string.Create(CultureInfo.InvariantCulture, $"EventLoop ({Environment.ProcessorCount} epoll loops, one per processor)")
            : "Sockets (Kestrel's socket transport)");
        Line(text, "admin", listeners.AdminEndPoint is { } admin ? $"http://{admin} (/ for a browser, /healthz /readyz /metrics /backends /config)" : "off");
        for (var i = 0; i < options.Routes.Count; i++)
        {
            var route = options.Routes[i];
            Line(text, i == 0 ? "routes" : "", DescribeRoute(route, i));
        }

        var first = true;
        foreach (var (name, cluster) in options.Clusters)
        {
            Line(text, first ? "clusters" : "", $"{name}: {cluster.Algorithm}, {Source(cluster)}{Tls(cluster)}{HealthCheck(cluster)}");
            first = false;
        }

        var log = options.AccessLog;
        Line(text, "access log", !log.Enabled ? "off" : string.Create(
            CultureInfo.InvariantCulture,
            $"{log.Format} to {(string.IsNullOrEmpty(log.Path) ? "stdout" : Path.GetFullPath(log.Path))}{(log.SampleRate < 1 ? $", {log.SampleRate:P0} of requests" : "")}"));
        Line(text, "config", configFile is null ? Path.Combine(AppContext.BaseDirectory, "appsettings.json") + " (and environment, command line)" : Path.GetFullPath(configFile) + " (and environment, command line)");
        if (backends is not null)
        {
            Line(text, "demo", $"{backends.Addresses.Count} backends; try: curl http://{listeners.ProxyEndPoint}/");
        }

        return text.ToString().TrimEnd('\n');
    }

    private static string HealthCheck(ClusterOptions cluster) => cluster.HealthCheck is { Enabled: true } check
        ? string.Create(
            CultureInfo.InvariantCulture,
            $", health check {check.Protocol}{(check.Protocol == HealthCheckProtocol.Http ? " " + (check.Path ?? "/") : "")} every {check.Interval.TotalSeconds:0.###} s")
        : "";

    private static string Source(ClusterOptions cluster)
    {
        if (cluster.Kubernetes is { } service)
        {
            return $"Kubernetes Service {service.Namespace}/{service.Service}{(string.IsNullOrEmpty(service.Port) ? "" : ":" + service.Port)}";
        }

        var endpoints = cluster.Endpoints;
        var shown = new StringBuilder();
        for (var i = 0; i < endpoints.Count && i < EndpointsShown; i++)
        {
            shown.Append(i == 0 ? "" : ", ").Append(endpoints[i].Address);
        }

        if (endpoints.Count > EndpointsShown)
        {
            shown.Append(CultureInfo.InvariantCulture, $", +{endpoints.Count - EndpointsShown} more");
        }

        return string.Create(CultureInfo.InvariantCulture, $"static list of {endpoints.Count} ({shown})");
    }

    private static string Tls(ClusterOptions cluster) => cluster.Tls is not { Enabled: true } tls ? ""
        : tls.SkipValidation ? ", TLS (certificates NOT checked)"
        : $", TLS to {tls.ServerName ?? "the endpoints' names"}{(tls.ClientCertificateFile is null ? "" : " with a client certificate")}";

    private static void Line(StringBuilder text, string label, string value) =>
        text.Append("  ").Append(label.PadRight(12)).Append(value).Append('\n');

    [LoggerMessage(1, LogLevel.Information, "Proxy started\n{Summary}")]
    private static partial void Started(ILogger logger, string summary);
}
