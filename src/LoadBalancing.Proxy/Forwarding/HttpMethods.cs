using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Forwarding;

internal static class HttpMethodRules
{
    /// <summary>RFC 9110 §9.2.2 idempotent methods: safe to send again after a failure.</summary>
    public static bool IsIdempotent(string method) =>
        HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)
        || HttpMethods.IsTrace(method) || HttpMethods.IsPut(method) || HttpMethods.IsDelete(method);

    /// <summary>Methods whose requests are expected to carry a body, so an empty one is sent as Content-Length: 0.</summary>
    public static bool ExpectsBody(string method) =>
        HttpMethods.IsPost(method) || HttpMethods.IsPut(method) || HttpMethods.IsPatch(method);
}
