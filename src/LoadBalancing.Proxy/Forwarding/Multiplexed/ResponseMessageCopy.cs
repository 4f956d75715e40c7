using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace LoadBalancing.Proxy.Forwarding.Multiplexed;

/// <summary>Copies an upstream <see cref="HttpResponseMessage"/>'s status, fields and trailers onto the client's response.</summary>
internal static class ResponseMessageCopy
{
    public static void WriteHead(HttpResponse target, HttpResponseMessage response, Routing.ProxyRoute? route)
    {
        target.StatusCode = (int)response.StatusCode;
        var headers = target.Headers;
        Copy(response.Headers, headers);
        Copy(response.Content.Headers, headers);
        route?.ResponseHeaders?.Apply(headers);
    }

    /// <summary>Forwards the upstream's trailers (gRPC's status travels in them) where the client's protocol carries trailers.</summary>
    public static void WriteTrailers(HttpResponse target, HttpResponseMessage response)
    {
        var trailers = response.TrailingHeaders;
        if (!trailers.NonValidated.GetEnumerator().MoveNext() || !target.SupportsTrailers())
        {
            return;
        }

        foreach (var (name, values) in trailers.NonValidated)
        {
            if (!IsHopByHop(name))
            {
                foreach (var value in values)
                {
                    target.AppendTrailer(name, value);
                }
            }
        }
    }

    private static void Copy(HttpHeaders source, IHeaderDictionary target)
    {
        foreach (var (name, values) in source.NonValidated)
        {
            if (IsHopByHop(name))
            {
                continue;
            }

            target[name] = values.Count == 1 ? values.ToString() : values.ToArray();
        }
    }

    /// <summary>Fields that describe one connection, not the message (RFC 9110 §7.6.1), and framing the proxy redoes.</summary>
    private static bool IsHopByHop(string name) =>
        name.Equals(HeaderNames.Connection, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.KeepAlive, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.TransferEncoding, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Upgrade, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.ProxyConnection, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.TE, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Trailer, StringComparison.OrdinalIgnoreCase);
}
