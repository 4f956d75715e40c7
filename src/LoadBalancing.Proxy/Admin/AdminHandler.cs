using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace LoadBalancing.Proxy.Admin;

/// <summary>
/// The admin endpoint: <c>/</c> (an HTML page drawing <c>/backends</c> and <c>/readyz</c> for a browser),
/// <c>/healthz</c> (the process works: every registered health check tagged <c>live</c>, such as
/// a wedged discovery loop's, passes), <c>/readyz</c> (it should get traffic), <c>/metrics</c> (Prometheus text) and
/// <c>/backends</c> (every cluster and endpoint, as JSON), <c>/config</c> (the configuration in service, the last failed
/// reload) and <c>POST /config/reload</c>.
/// </summary>
internal sealed class AdminHandler(ProxyRuntime runtime, HealthCheckService? healthChecks, ConfigReloader? reloader)
{
    public Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value;
        if (path == "/config/reload")
        {
            return HttpMethods.IsPost(context.Request.Method)
                ? ReloadAsync(context)
                : WriteAsync(context, StatusCodes.Status405MethodNotAllowed, "text/plain", "/config/reload answers POST only\n");
        }

        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            return WriteAsync(context, StatusCodes.Status405MethodNotAllowed, "text/plain", "admin endpoints answer GET only\n");
        }

        return path switch
        {
            "/" => PageAsync(context),
            "/healthz" => LiveAsync(context),
            "/readyz" => ReadyAsync(context),
            "/metrics" => OffTheLoop(() => WriteAsync(context, StatusCodes.Status200OK, "text/plain; version=0.0.4; charset=utf-8", PrometheusWriter.Write(runtime))),
            "/backends" => OffTheLoop(() => BackendsAsync(context)),
            "/config" => OffTheLoop(() => WriteAsync(context, StatusCodes.Status200OK, "application/json", ConfigWriter.Write(runtime, null))),
            _ => WriteAsync(context, StatusCodes.Status404NotFound, "text/plain", "admin paths: / /healthz /readyz /metrics /backends /config, POST /config/reload\n"),
        };
    }

    /// <summary>
    /// Runs <paramref name="respond"/> on the thread pool when the request arrived on an event loop: /metrics, /backends
    /// and /config walk every cluster and endpoint (milliseconds for tens of thousands), and a loop's other connections
    /// would wait for them. Elsewhere, inline.
    /// </summary>
    private static Task OffTheLoop(Func<Task> respond) => Transport.EventLoop.EpollLoop.Current is null ? respond() : Task.Run(respond);

    private async Task LiveAsync(HttpContext context)
    {
        var report = healthChecks is not null
            ? await healthChecks.CheckHealthAsync(check => check.Tags.Contains("live"), context.RequestAborted).ConfigureAwait(false)
            : await LoopsOnlyAsync(context.RequestAborted).ConfigureAwait(false);
        var text = new StringBuilder(report.Status == HealthStatus.Unhealthy ? "not live\n" : "ok\n");
        foreach (var (name, entry) in report.Entries)
        {
            text.Append(name).Append(": ").Append(entry.Status).Append(entry.Description is { } d ? " — " + d : "").Append('\n');
        }

        var status = report.Status == HealthStatus.Unhealthy ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        await WriteAsync(context, status, "text/plain", text.ToString()).ConfigureAwait(false);
    }

    /// <summary>Without the application's health checks: the event loops' own, when the proxy runs on them; else none.</summary>
    private async Task<HealthReport> LoopsOnlyAsync(CancellationToken cancellationToken)
    {
        var entries = new Dictionary<string, HealthReportEntry>(StringComparer.Ordinal);
        if (runtime.Options.Transport == ProxyTransport.EventLoop)
        {
            var check = new Transport.EventLoop.EventLoopLivenessCheck();
            var result = await check.CheckHealthAsync(new HealthCheckContext(), cancellationToken).ConfigureAwait(false);
            entries[Transport.EventLoop.EventLoopLivenessCheck.Name] = new HealthReportEntry(result.Status, result.Description, TimeSpan.Zero, result.Exception, result.Data);
        }

        return new HealthReport(entries, TimeSpan.Zero);
    }

    private async Task ReloadAsync(HttpContext context)
    {
        if (reloader is null)
        {
            await WriteAsync(context, StatusCodes.Status409Conflict, "text/plain", "this proxy has no configuration source to reload from (IProxyBuilder.UseConfigurationReload)\n").ConfigureAwait(false);
            return;
        }

        // On the thread pool: a reload reads files and rebuilds clusters (tens of milliseconds for many maglev tables),
        // and on the event-loop transport this request's thread is a loop serving other connections.
        var result = await Task.Run(() => reloader.ReloadAsync("POST /config/reload")).ConfigureAwait(false);
        var status = result.Outcome == ReloadOutcome.Rejected ? StatusCodes.Status422UnprocessableEntity : StatusCodes.Status200OK;
        await WriteAsync(context, status, "application/json", ConfigWriter.Write(runtime, result)).ConfigureAwait(false);
    }

    private Task BackendsAsync(HttpContext context)
    {
        if (!context.Request.Query.TryGetValue("cluster", out var names))
        {
            return WriteAsync(context, StatusCodes.Status200OK, "application/json", BackendsWriter.Write(runtime));
        }

        var name = names.ToString();
        foreach (var cluster in runtime.Clusters)
        {
            if (string.Equals(cluster.Name, name, StringComparison.Ordinal))
            {
                return WriteAsync(context, StatusCodes.Status200OK, "application/json", BackendsWriter.Write(runtime, cluster));
            }
        }

        var known = string.Join(", ", runtime.Clusters.Select(c => c.Name).Order(StringComparer.Ordinal));
        return WriteAsync(context, StatusCodes.Status404NotFound, "text/plain", $"no cluster named '{name}'; clusters: {known}\n");
    }

    private Task ReadyAsync(HttpContext context)
    {
        var (ready, report) = Readiness.Check(runtime);
        return WriteAsync(context, ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable, "text/plain", report);
    }

    private static Task PageAsync(HttpContext context)
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = AdminPage.ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        return WriteAsync(context, StatusCodes.Status200OK, "text/html; charset=utf-8", AdminPage.Utf8);
    }

    private static Task WriteAsync(HttpContext context, int status, string contentType, string body) =>
        WriteAsync(context, status, contentType, Encoding.UTF8.GetBytes(body));

    private static Task WriteAsync(HttpContext context, int status, string contentType, byte[] bytes)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        context.Response.Headers.CacheControl = "no-store";
        context.Response.ContentLength = bytes.Length;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : context.Response.Body.WriteAsync(bytes, 0, bytes.Length, context.RequestAborted);
    }
}
