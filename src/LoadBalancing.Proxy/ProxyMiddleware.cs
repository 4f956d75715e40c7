using System.Text;
using LoadBalancing.Proxy.Forwarding;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy;

/// <summary>The terminal request handler: route, then forward.</summary>
internal sealed class ProxyMiddleware(ProxyRuntime runtime)
{
    private static readonly byte[] NoRouteBody = Encoding.ASCII.GetBytes("no route for this host and path\n");
    private static readonly byte[] ConnectBody = Encoding.ASCII.GetBytes("CONNECT is not supported\n");

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (HttpMethods.IsConnect(request.Method))
        {
            return PlainAsync(context, StatusCodes.Status405MethodNotAllowed, ConnectBody);
        }

        if (RequestFramingRules.ShouldReject(request, out var reason))
        {
            runtime.Rejections.Add(reason);
            return ErrorResponses.RejectAsync(context, RequestFramingRules.Message(reason));
        }

        var host = request.Headers.Host;
        // One read of the snapshot: the request finishes on the cluster it picked, whatever a reload publishes meanwhile.
        var cluster = runtime.Config.Routes.Match(host.Count > 0 ? host[0] : "", request.Path.Value ?? "/");
        if (cluster is null)
        {
            runtime.NoRoute();
            return PlainAsync(context, StatusCodes.Status404NotFound, NoRouteBody);
        }

        return runtime.Forwarder.ForwardAsync(context, cluster);
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
