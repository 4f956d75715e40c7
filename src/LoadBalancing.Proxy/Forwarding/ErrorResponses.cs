using System.Text;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>The short plain-text answers the proxy gives when it cannot forward a request.</summary>
internal static class ErrorResponses
{
    /// <summary>Refuses a request the proxy will not forward, and ends the connection it came on.</summary>
    public static Task RejectAsync(HttpContext context, string message)
    {
        // Once framing is in doubt nothing after this request on the connection can be trusted (RFC 9112 §6.3).
        context.Response.Headers.Connection = "close";
        return WriteAsync(context, StatusCodes.Status400BadRequest, message, keepHeaders: true);
    }

    public static async Task WriteAsync(HttpContext context, int status, string message, bool keepHeaders = false)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            // Headers are out: the only honest signal left is to break the connection.
            context.Abort();
            return;
        }

        if (!keepHeaders)
        {
            response.Clear();
        }

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
