using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace LoadBalancing.Yarp.Feedback;

/// <summary>
/// Reports each proxied request's outcome to the pick that chose its destination: success when the response status is
/// below 500 and YARP reported no forwarding error, latency from the pick to the end of the request.
/// </summary>
internal sealed class FeedbackMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        var feedback = new PickFeedback();
        context.Features.Set(feedback);
        return InvokeCoreAsync(context, feedback);
    }

    private async Task InvokeCoreAsync(HttpContext context, PickFeedback feedback)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch
        {
            feedback.Abandon(context.Features.Get<IReverseProxyFeature>()?.ProxiedDestination);
            throw;
        }

        if (feedback.Destination is not null)
        {
            feedback.Finish(
                context.Features.Get<IReverseProxyFeature>()?.ProxiedDestination,
                context.Response.StatusCode,
                context.Features.Get<IForwarderErrorFeature>());
        }
    }
}
