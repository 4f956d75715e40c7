using System.Text;
using LoadBalancing.Proxy.AccessLog;
using LoadBalancing.Proxy.Forwarding;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy;

/// <summary>The terminal request handler: route, then forward.</summary>
internal sealed class ProxyMiddleware(ProxyRuntime runtime, AccessLogWriter? accessLog = null)
{
    private static readonly string[] RejectedReasons = [.. Metrics.RequestRejections.ReasonNames.Select(static r => "rejected_" + r)];

    private static readonly byte[] NoRouteBody = Encoding.ASCII.GetBytes("no route for this host and path\n");
    private static readonly byte[] ConnectBody = Encoding.ASCII.GetBytes("CONNECT is not supported\n");

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        var log = accessLog is { } writer && writer.Sample() ? writer : null;
        var started = log is null ? 0 : log.Now();
        if (HttpMethods.IsConnect(request.Method))
        {
            // The proxy's own answers are logged as they are handed to Kestrel: their size is known, and waiting for
            // the write would cost every such request a continuation.
            log?.WriteAnswered(context, started, StatusCodes.Status405MethodNotAllowed, ConnectBody.Length, "method_not_allowed");
            return PlainAsync(context, StatusCodes.Status405MethodNotAllowed, ConnectBody);
        }

        if (RequestFramingRules.ShouldReject(request, out var reason))
        {
            runtime.Rejections.Add(reason);
            var message = RequestFramingRules.Message(reason);
            log?.WriteAnswered(context, started, StatusCodes.Status400BadRequest, Encoding.UTF8.GetByteCount(message) + 1, RejectedReasons[(int)reason]);
            return ErrorResponses.RejectAsync(context, message);
        }

        var host = request.Headers.Host;
        // One read of the snapshot: the request finishes on the cluster it picked, whatever a reload publishes meanwhile.
        var cluster = runtime.Config.Routes.Match(host.Count > 0 ? host[0] : "", request.Path.Value ?? "/");
        if (cluster is null)
        {
            runtime.NoRoute();
            log?.WriteAnswered(context, started, StatusCodes.Status404NotFound, NoRouteBody.Length, "no_route");
            return PlainAsync(context, StatusCodes.Status404NotFound, NoRouteBody);
        }

        return runtime.Forwarder.ForwardAsync(context, cluster, log, started);
    }

    private static Task PlainAsync(HttpContext context, int status, byte[] body)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "text/plain";
        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body, 0, body.Length, context.RequestAborted);
    }
}
