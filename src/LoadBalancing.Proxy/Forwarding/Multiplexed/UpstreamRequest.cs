using System.Net;
using LoadBalancing.Proxy.Routing;
using LoadBalancing.Proxy.Upstream.Multiplexed;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace LoadBalancing.Proxy.Forwarding.Multiplexed;

/// <summary>
/// Builds the <see cref="HttpRequestMessage"/> an HTTP/2 upstream gets from what Kestrel parsed, under the same
/// rules as the HTTP/1.1 head writer: hop-by-hop fields and anything the client's <c>Connection</c> names stay behind,
/// the body is framed by what the proxy reads, and X-Forwarded-* describe this hop.
/// </summary>
internal static class UpstreamRequest
{
    private static readonly UriCreationOptions RawTarget = new() { DangerousDisablePathAndQueryCanonicalization = true };

    // trace: The span the upstream continues: its context replaces the client's traceparent and
    // tracestate; null to forward the client's as sent.
    public static HttpRequestMessage Create(HttpContext context, MultiplexedClient client, string authority, bool preserveHost, RequestFraming framing, ProxyRoute? route, RequestBodyContent? body, System.Diagnostics.Activity? trace = null)
    {
        var request = context.Request;
        var message = new HttpRequestMessage(HttpMethod.Parse(request.Method), new Uri(client.BaseAddress + Target(context, route), in RawTarget))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = client.VersionPolicy,
            Content = body,
        };

        var headers = request.Headers;
        var clientHost = headers.Host.Count > 0 ? headers.Host[0] : null;
        message.Headers.Host = route?.RewriteHost ?? (preserveHost && !string.IsNullOrEmpty(clientHost) ? clientHost : authority);
        var connection = headers.Connection;
        var trusted = route?.TrustForwardedHeaders ?? false;
        foreach (var (name, values) in headers)
        {
            if (RequestHeadWriter.IsNeverForwarded(name) || name.StartsWith(':') || IsNamedIn(connection, name) || (trace is not null && AttemptTracing.IsTraceContextField(name))
                || (!trusted && RequestHeadWriter.IsClientAddressField(name)))
            {
                continue;
            }

            if (string.Equals(name, HeaderNames.Cookie, StringComparison.OrdinalIgnoreCase))
            {
                // One field, as the HTTP/1.1 side sends it; HTTP/2 may split it again on the wire.
                message.Headers.TryAddWithoutValidation(name, values.Count == 1 ? values[0] : string.Join("; ", values.ToArray()));
                continue;
            }

            // One value (nearly always) goes in as a string: the enumerable overload would box the StringValues.
            if (!(values.Count == 1 ? message.Headers.TryAddWithoutValidation(name, values[0]) : message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
                && body is not null)
            {
                _ = values.Count == 1 ? body.Headers.TryAddWithoutValidation(name, values[0]) : body.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        // HTTP/2 allows TE only as "trailers"; gRPC servers need it to know trailers will be read.
        if (WantsTrailers(headers.TE) || Grpc.GrpcCalls.IsGrpc(request))
        {
            message.Headers.TryAddWithoutValidation(HeaderNames.TE, "trailers");
        }

        AddForwarded(message, context, clientHost, trusted);
        if (trace is not null)
        {
            message.Headers.TryAddWithoutValidation("traceparent", trace.Id);
            if (!string.IsNullOrEmpty(trace.TraceStateString))
            {
                message.Headers.TryAddWithoutValidation("tracestate", trace.TraceStateString);
            }
        }
        if (body is not null)
        {
            body.Headers.ContentLength = framing == RequestFraming.ContentLength ? request.ContentLength : null;
        }
        else if (framing == RequestFraming.EmptyBody)
        {
            message.Content = new ByteArrayContent([]);
            message.Content.Headers.ContentLength = 0;
        }

        return message;
    }

    /// <summary>The target sent upstream: the client's, or the route's rewrite of it with the query kept.</summary>
    private static string Target(HttpContext context, ProxyRoute? route)
    {
        var target = RequestTarget.OriginForm(context);
        if (route?.RewritePath is not { } rewrite)
        {
            return target;
        }

        RequestTarget.Split(target, out var path, out var query);
        if (rewrite.ReplacesPrefix)
        {
            path = RequestTarget.ForPrefix(context, path, route.Path);
        }

        rewrite.Apply(path, route.Path, out var head, out var rest);
        return string.Concat(head, rest, query);
    }

    private static void AddForwarded(HttpRequestMessage message, HttpContext context, string? clientHost, bool trusted)
    {
        var request = context.Request;
        var forwardedFor = trusted ? request.Headers["X-Forwarded-For"] : StringValues.Empty;
        var ip = context.Connection.RemoteIpAddress;
        if (ip is { IsIPv4MappedToIPv6: true })
        {
            ip = ip.MapToIPv4();
        }

        var earlier = forwardedFor.Count switch
        {
            0 => "",
            1 => forwardedFor[0] ?? "",
            _ => string.Join(", ", forwardedFor.Where(v => !string.IsNullOrEmpty(v))),
        };
        var own = ip?.ToString();
        message.Headers.TryAddWithoutValidation("X-Forwarded-For", earlier.Length == 0 ? own ?? "" : own is null ? earlier : earlier + ", " + own);
        var proto = trusted ? FirstOf(request.Headers["X-Forwarded-Proto"]) : null;
        message.Headers.TryAddWithoutValidation("X-Forwarded-Proto", proto ?? (request.IsHttps ? "https" : "http"));
        var host = (trusted ? FirstOf(request.Headers["X-Forwarded-Host"]) : null) ?? clientHost;
        if (!string.IsNullOrEmpty(host))
        {
            message.Headers.TryAddWithoutValidation("X-Forwarded-Host", host);
        }
    }

    private static string? FirstOf(StringValues values) => values.Count > 0 && !string.IsNullOrEmpty(values[0]) ? values[0] : null;

    private static bool WantsTrailers(StringValues te)
    {
        foreach (var value in te)
        {
            if (value is not null && value.Contains("trailers", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsNamedIn(StringValues connection, string name)
    {
        foreach (var value in connection)
        {
            if (value is null)
            {
                continue;
            }

            foreach (var range in value.AsSpan().Split(','))
            {
                if (value.AsSpan()[range].Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }
}
