using LoadBalancing.Yarp.Feedback;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds the outcome feedback of the LoadBalancing policies to YARP's proxy pipeline.</summary>
public static class ReverseProxyApplicationBuilderFeedbackExtensions
{
    /// <summary>
    /// Reports each proxied request's outcome to the LoadBalancing policy that picked its destination: the request
    /// leaves the destination's in-flight count, its duration feeds peak-EWMA, and a 5xx response or a forwarding error
    /// of the destination counts towards outlier detection. Put it first in <c>MapReverseProxy(proxy =&gt; ...)</c>,
    /// before <c>UseLoadBalancing()</c>. Without it the policies still pick, but least-request sees no requests in
    /// flight, peak-EWMA learns no latency and no destination is ejected.
    /// </summary>
    /// <param name="builder">The proxy pipeline.</param>
    /// <returns>The same builder.</returns>
    public static IReverseProxyApplicationBuilder UseLoadBalancingFeedback(this IReverseProxyApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.UseMiddleware<FeedbackMiddleware>();
        return builder;
    }
}
