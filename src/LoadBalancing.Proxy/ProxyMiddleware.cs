using System.Text;
using LoadBalancing.Proxy.AccessLog;
using LoadBalancing.Proxy.Forwarding;
using LoadBalancing.Proxy.Routing;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy;

/// <summary>The terminal request handler: refuse what is ambiguous, route, then redirect, answer or forward.</summary>
internal sealed class ProxyMiddleware(ProxyRuntime runtime, AccessLogWriter? accessLog = null)
{
    private static readonly string[] RejectedReasons = [.. Metrics.RequestRejections.ReasonNames.Select(static r => "rejected_" + r)];

    private static readonly byte[] NoRouteBody = Encoding.ASCII.GetBytes("no route for this host and path\n");
    private static readonly byte[] ConnectBody = Encoding.ASCII.GetBytes("CONNECT is not supported\n");
    private static readonly byte[] PoliciesNotEnforcedBody = Encoding.ASCII.GetBytes("the route's access policies changed while the request was routed; retry\n");

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        var started = accessLog?.Now() ?? 0;
        if (HttpMethods.IsConnect(request.Method))
        {
            // The proxy's own answers are logged as they are handed to Kestrel: their size is known, and waiting for
            // the write would cost every such request a continuation.
            Sampled(null)?.WriteAnswered(context, started, StatusCodes.Status405MethodNotAllowed, ConnectBody.Length, "method_not_allowed");
            return PlainAsync(context, StatusCodes.Status405MethodNotAllowed, "text/plain", ConnectBody);
        }

        if (RequestFramingRules.ShouldReject(request, out var reason))
        {
            runtime.Rejections.Add(reason);
            var message = RequestFramingRules.Message(reason);
            Sampled(null)?.WriteAnswered(context, started, StatusCodes.Status400BadRequest, Encoding.UTF8.GetByteCount(message) + 1, RejectedReasons[(int)reason]);
            return ErrorResponses.RejectAsync(context, message);
        }

        // One read of the snapshot: the request finishes on the route and cluster it picked, whatever a reload
        // publishes meanwhile.
        var route = runtime.Config.Routes.Match(request);
        if (route is null)
        {
            runtime.NoRoute();
            Sampled(null)?.WriteAnswered(context, started, StatusCodes.Status404NotFound, NoRouteBody.Length, "no_route");
            return PlainAsync(context, StatusCodes.Status404NotFound, "text/plain", NoRouteBody);
        }

        var log = Sampled(route);
        if (route.EndpointPolicies is { } policies && !policies.EnforcedFor(context))
        {
            // The route asks the application to authorize or rate-limit its requests, and the endpoint that routed this
            // one did not enforce exactly that (a reload changed the route's policies in between): fail closed.
            log?.WriteAnswered(context, started, StatusCodes.Status503ServiceUnavailable, PoliciesNotEnforcedBody.Length, "route_policies_not_enforced", route.Name);
            route.Counters.Ended(StatusCodes.Status503ServiceUnavailable);
            return PlainAsync(context, StatusCodes.Status503ServiceUnavailable, "text/plain", PoliciesNotEnforcedBody);
        }

        switch (route.Action)
        {
            case RouteAction.Redirect:
                {
                    var response = context.Response;
                    response.StatusCode = route.Redirect!.StatusCode;
                    response.Headers.Location = route.Redirect.Location(context, route.Path);
                    response.ContentLength = 0;
                    route.ResponseHeaders?.Apply(response.Headers);
                    log?.WriteAnswered(context, started, response.StatusCode, 0, "redirect", route.Name);
                    route.Counters.Ended(response.StatusCode);
                    return Task.CompletedTask;
                }

            case RouteAction.DirectResponse:
                route.ResponseHeaders?.Apply(context.Response.Headers);
                log?.WriteAnswered(context, started, route.DirectStatus, route.DirectBody.Length, "direct_response", route.Name);
                route.Counters.Ended(route.DirectStatus);
                return PlainAsync(context, route.DirectStatus, route.DirectContentType, route.DirectBody);

            default:
                route.RequestHeaders?.Apply(request.Headers);
                var cluster = route.ChooseCluster(context);
                if (cluster.IsMultiplexed)
                {
                    return runtime.MultiplexedForwarder.ForwardAsync(context, cluster, route, log, started);
                }

                if (HttpProtocol.IsHttp2(request.Protocol) && Forwarding.Grpc.GrpcCalls.IsGrpc(request))
                {
                    // A gRPC call's status travels in trailers, which the HTTP/1.1 path drops: say so, as a status.
                    log?.WriteAnswered(context, started, StatusCodes.Status200OK, 0, "grpc_needs_http2", route.Name);
                    route.Counters.Ended(StatusCodes.Status200OK);
                    return Forwarding.Grpc.GrpcCalls.WriteFailureAsync(context, GrpcStatusCode.Unimplemented,
                        $"cluster '{cluster.Name}' speaks HTTP/1.1 to its endpoints; gRPC needs \"Protocol\": \"Http2\"");
                }

                return runtime.Forwarder.ForwardAsync(context, cluster, route, log, started);
        }
    }

    /// <summary>The access log when this request is to be logged: decided once, at the route's rate when it has one.</summary>
    private AccessLogWriter? Sampled(ProxyRoute? route) =>
        accessLog is { } writer && writer.Sample(route?.AccessLogSampleRate) ? writer : null;

    private static Task PlainAsync(HttpContext context, int status, string contentType, byte[] body)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = contentType;
        response.ContentLength = body.Length;
        return body.Length == 0 ? Task.CompletedTask : response.Body.WriteAsync(body, 0, body.Length, context.RequestAborted);
    }
}
