using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>How the request body is framed towards the upstream.</summary>
internal enum RequestFraming
{
    /// <summary>No body.</summary>
    None,

    /// <summary>No body, but the method expects one: <c>Content-Length: 0</c>.</summary>
    EmptyBody,

    /// <summary>A body of the length Kestrel parsed.</summary>
    ContentLength,

    /// <summary>A body of unknown length (chunked or HTTP/2 without a length), sent chunked.</summary>
    Chunked,
}

/// <summary>
/// Writes the upstream HTTP/1.1 request head straight into the connection's pipe, from what Kestrel parsed.
/// Framing headers are never copied from the client: the proxy frames the body it actually read, so a
/// request Kestrel saw as one request reaches the upstream as exactly one request.
/// </summary>
internal static class RequestHeadWriter
{
    public static RequestFraming GetFraming(HttpRequest request)
    {
        if (request.ContentLength is long length)
        {
            return length > 0 ? RequestFraming.ContentLength : ExpectsBodyOrNone(request);
        }

        var canHaveBody = request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? false;
        return canHaveBody ? RequestFraming.Chunked : ExpectsBodyOrNone(request);
    }

    private static RequestFraming ExpectsBodyOrNone(HttpRequest request) =>
        HttpMethodRules.ExpectsBody(request.Method) ? RequestFraming.EmptyBody : RequestFraming.None;

    // trace: The span the upstream continues (AttemptTracing.Propagated): its context replaces
    // the client's traceparent and tracestate; null to forward the client's as sent.
    public static void Write(PipeWriter pipe, HttpContext context, string upstreamAuthority, bool preserveHost, RequestFraming framing, bool upgrade, Routing.ProxyRoute? route = null, System.Diagnostics.Activity? trace = null)
    {
        var output = new HeadBuffer(pipe);
        var request = context.Request;
        output.Ascii(request.Method);
        output.Write(" "u8);
        if (route?.RewritePath is { } rewrite)
        {
            WriteRewrittenTarget(ref output, context, rewrite, route.Path);
        }
        else
        {
            WriteTarget(ref output, context);
        }

        output.Write(" HTTP/1.1\r\nHost: "u8);
        var host = request.Headers.Host;
        var clientHost = host.Count > 0 ? host[0] : null;
        output.Ascii(route?.RewriteHost ?? (preserveHost && !string.IsNullOrEmpty(clientHost) ? clientHost : upstreamAuthority));
        output.Write("\r\n"u8);

        var headers = request.Headers;
        var connection = headers.Connection;
        var trusted = route?.TrustForwardedHeaders ?? false;
        var forwarded = default(IncomingForwarded);
        foreach (var header in headers)
        {
            var name = header.Key;
            if (string.Equals(name, HeaderNames.Upgrade, StringComparison.OrdinalIgnoreCase))
            {
                if (upgrade)
                {
                    WriteJoined(ref output, name, header.Value, ", "u8);
                }

                continue;
            }

            if (IsControlledHere(name))
            {
                // Kept from the walk (the exact name, not an underscore spelling): a look-up by name costs more.
                if (trusted)
                {
                    forwarded.Keep(name, header.Value);
                }

                continue;
            }

            if (!trusted && IsClientAddressField(name))
            {
                continue;
            }

            if (name.StartsWith(':') || (connection.Count > 0 && IsNamedIn(connection, name)) || (trace is not null && AttemptTracing.IsTraceContextField(name)))
            {
                continue;
            }

            if (string.Equals(name, HeaderNames.Cookie, StringComparison.OrdinalIgnoreCase))
            {
                // HTTP/2 may split cookies over several fields; HTTP/1.1 wants one (RFC 9113 §8.2.3).
                WriteJoined(ref output, name, header.Value, "; "u8);
                continue;
            }

            foreach (var value in header.Value)
            {
                output.Field(name, value);
            }
        }

        WriteForwarded(ref output, context, clientHost, in forwarded);
        if (trace is not null)
        {
            output.Field("traceparent", trace.Id!);
            if (!string.IsNullOrEmpty(trace.TraceStateString))
            {
                output.Field("tracestate", trace.TraceStateString);
            }
        }

        if (upgrade)
        {
            output.Write("Connection: Upgrade\r\n"u8);
        }

        switch (framing)
        {
            case RequestFraming.EmptyBody:
                output.Write("Content-Length: 0\r\n"u8);
                break;
            case RequestFraming.ContentLength:
                output.Write("Content-Length: "u8);
                output.Number(request.ContentLength!.Value);
                output.Write("\r\n"u8);
                break;
            case RequestFraming.Chunked:
                output.Write("Transfer-Encoding: chunked\r\n"u8);
                break;
        }

        output.Write("\r\n"u8);
        output.Commit();
    }

    private static void WriteTarget(ref HeadBuffer output, HttpContext context) =>
        output.Ascii(Routing.RequestTarget.OriginForm(context));

    /// <summary>The target with the route's new path (written in parts, without building a string) and the query kept.</summary>
    private static void WriteRewrittenTarget(ref HeadBuffer output, HttpContext context, Routing.PathReplacement rewrite, string prefix)
    {
        Routing.RequestTarget.Split(Routing.RequestTarget.OriginForm(context), out var path, out var query);
        if (rewrite.ReplacesPrefix)
        {
            path = Routing.RequestTarget.ForPrefix(context, path, prefix);
        }

        rewrite.Apply(path, prefix, out var head, out var rest);
        output.Ascii(head);
        output.Ascii(rest);
        output.Ascii(query);
    }

    private static void WriteForwarded(ref HeadBuffer output, HttpContext context, string? clientHost, in IncomingForwarded incoming)
    {
        var request = context.Request;

        // X-Forwarded-For: what earlier proxies said (when trusted), then the address this proxy saw.
        output.Write("X-Forwarded-For: "u8);
        var first = true;
        foreach (var value in incoming.For)
        {
            if (!string.IsNullOrEmpty(value))
            {
                if (!first)
                {
                    output.Write(", "u8);
                }

                output.Ascii(value);
                first = false;
            }
        }

        if (context.Connection.RemoteIpAddress is { } ip)
        {
            if (!first)
            {
                output.Write(", "u8);
            }

            if (ip.IsIPv4MappedToIPv6)
            {
                ip = ip.MapToIPv4();
            }

            output.Address(ip);
        }

        if (incoming.Proto is { } proto)
        {
            // Values a trusted load balancer sent, written back as the bytes they arrived as.
            output.Write("\r\nX-Forwarded-Proto: "u8);
            output.Value(proto);
        }
        else
        {
            output.Write(request.IsHttps ? "\r\nX-Forwarded-Proto: https"u8 : "\r\nX-Forwarded-Proto: http"u8);
        }

        if (incoming.Host is { } forwardedHost)
        {
            output.Write("\r\nX-Forwarded-Host: "u8);
            output.Value(forwardedHost);
        }
        else if (!string.IsNullOrEmpty(clientHost))
        {
            output.Write("\r\nX-Forwarded-Host: "u8);
            output.Ascii(clientHost);
        }

        output.Write("\r\n"u8);
    }

    /// <summary>
    /// Headers this writer sets itself (Host, framing, X-Forwarded-*) and hop-by-hop headers (RFC 9110 §7.6.1, plus
    /// h2c's HTTP2-Settings, RFC 7540 §3.2.1). A client's Connection field cannot nominate the first kind away: they
    /// are written from what the proxy knows, whatever the client listed. Trailer goes too: the upstream body is
    /// re-framed and ends with an empty trailer section, so the fields it announces never follow.
    /// </summary>
    private static bool IsControlledHere(ReadOnlySpan<char> name) =>
        name.Length switch
        {
            2 => name.Equals("TE", StringComparison.OrdinalIgnoreCase),
            4 => name.Equals(HeaderNames.Host, StringComparison.OrdinalIgnoreCase),
            6 => name.Equals(HeaderNames.Expect, StringComparison.OrdinalIgnoreCase),
            7 => name.Equals(HeaderNames.Trailer, StringComparison.OrdinalIgnoreCase),
            10 => name.Equals(HeaderNames.Connection, StringComparison.OrdinalIgnoreCase)
                || name.Equals(HeaderNames.KeepAlive, StringComparison.OrdinalIgnoreCase),
            14 => name.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase)
                || name.Equals("HTTP2-Settings", StringComparison.OrdinalIgnoreCase),
            15 => IsForwardingField(name, "X-Forwarded-For"),
            16 => name.Equals(HeaderNames.ProxyConnection, StringComparison.OrdinalIgnoreCase)
                || IsForwardingField(name, "X-Forwarded-Host"),
            17 => name.Equals(HeaderNames.TransferEncoding, StringComparison.OrdinalIgnoreCase)
                || IsForwardingField(name, "X-Forwarded-Proto"),
            _ => false,
        };

    /// <summary>
    /// One of the X-Forwarded fields the proxy writes, also spelt with underscores (<c>X_Forwarded_For</c>): CGI, WSGI
    /// and Rack read <c>-</c> and <c>_</c> alike (both become <c>HTTP_X_FORWARDED_FOR</c>), so a client's underscore
    /// spelling forwarded beside the proxy's own field could stand in for it. nginx drops underscore names for this.
    /// </summary>
    private static bool IsForwardingField(ReadOnlySpan<char> name, string field)
    {
        // Every such field starts with X; most names of these lengths (Accept-Encoding, Accept-Language) do not.
        if ((name[0] | 0x20) != 'x')
        {
            return false;
        }

        if (name.Equals(field, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (!name.Contains('_'))
        {
            return false;
        }

        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i] == '_' ? '-' : name[i];
            if (char.ToLowerInvariant(c) != char.ToLowerInvariant(field[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// <c>Forwarded</c> (RFC 7239) and <c>X-Real-IP</c> (also spelt with underscores, as the X-Forwarded fields): fields
    /// that name a client address, which an untrusted client must not be able to set (<see cref="ProxyOptions.TrustForwardedHeaders"/>).
    /// </summary>
    internal static bool IsClientAddressField(ReadOnlySpan<char> name) =>
        name.Length == 9 && (name.Equals("Forwarded", StringComparison.OrdinalIgnoreCase) || IsForwardingField(name, "X-Real-IP"));

    /// <summary>Whether a client's header of this name never reaches an upstream as sent, nominated or not.</summary>
    internal static bool IsNeverForwarded(ReadOnlySpan<char> name) =>
        IsControlledHere(name) || name.Equals(HeaderNames.Upgrade, StringComparison.OrdinalIgnoreCase);

    private static bool IsNamedIn(StringValues connection, string name)
    {
        foreach (var value in connection)
        {
            if (value is null)
            {
                continue;
            }

            var rest = value.AsSpan();
            foreach (var range in rest.Split(','))
            {
                if (rest[range].Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static void WriteJoined(ref HeadBuffer output, string name, StringValues values, ReadOnlySpan<byte> separator)
    {
        output.Ascii(name);
        output.Write(": "u8);
        for (var i = 0; i < values.Count; i++)
        {
            if (i > 0)
            {
                output.Write(separator);
            }

            output.Value(values[i]);
        }

        output.Write("\r\n"u8);
    }
}
