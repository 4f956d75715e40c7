using System.Text;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>The short plain-text answers the proxy gives when it cannot forward a request.</summary>
internal static class ErrorResponses
{
    public static async Task WriteAsync(HttpContext context, int status, string message)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            // Headers are out: the only honest signal left is to break the connection.
            context.Abort();
            return;
        }

        response.Clear();
        response.StatusCode = status;
        response.ContentType = "text/plain; charset=utf-8";
        var body = Encoding.UTF8.GetBytes(message + "\n");
        response.ContentLength = body.Length;
        try
        {
            await response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The client left.
        }
    }
}
