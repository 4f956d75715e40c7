using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace LoadBalancing.Proxy.Forwarding.Grpc;

/// <summary>
/// What the proxy knows of gRPC (grpc/doc/PROTOCOL-HTTP2.md): which requests are calls, their deadline, their status,
/// and how the proxy reports its own failures so a gRPC client sees a status rather than an HTTP error page.
/// </summary>
internal static class GrpcCalls
{
    /// <summary>Whether the request is a gRPC call: <c>application/grpc</c>, alone or with a subtype (<c>+proto</c>, <c>+json</c>).</summary>
    public static bool IsGrpc(HttpRequest request)
    {
        var type = request.ContentType;
        return type is not null
            && type.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase)
            && (type.Length == 16 || type[16] is '+' or ';')
            && !type.StartsWith("application/grpc-web", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Parses <c>grpc-timeout</c>: at most 8 digits and a unit (H, M, S, m, u, n). False when absent or malformed (a
    /// malformed header is the upstream's to judge; the proxy then sets no deadline of its own).
    /// </summary>
    public static bool TryParseTimeout(StringValues header, out TimeSpan timeout)
    {
        timeout = default;
        if (header.Count != 1 || header[0] is not { Length: >= 2 and <= 9 } text)
        {
            return false;
        }

        if (!long.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            return false;
        }

        var ticks = text[^1] switch
        {
            'H' => value * TimeSpan.TicksPerHour,
            'M' => value * TimeSpan.TicksPerMinute,
            'S' => value * TimeSpan.TicksPerSecond,
            'm' => value * TimeSpan.TicksPerMillisecond,
            'u' => value * 10,
            'n' => value / 100,
            _ => -1,
        };
        if (ticks < 0)
        {
            return false;
        }

        timeout = TimeSpan.FromTicks(Math.Max(ticks, 1));
        return true;
    }

    /// <summary>The call's status from the trailers, or from the headers of a trailers-only response; null when neither has one.</summary>
    public static int? Status(HttpResponseMessage response)
    {
        if (TryStatus(response.TrailingHeaders, out var status) || TryStatus(response.Headers, out status))
        {
            return status;
        }

        return null;
    }

    private static bool TryStatus(System.Net.Http.Headers.HttpHeaders headers, out int status)
    {
        status = 0;
        return headers.NonValidated.TryGetValues("grpc-status", out var values)
            && values.Count == 1
            && int.TryParse(values.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out status);
    }

    /// <summary>The status the proxy reports for a failure it would answer with <paramref name="httpStatus"/> over plain HTTP.</summary>
    public static GrpcStatusCode ForProxyFailure(int httpStatus) => httpStatus switch
    {
        StatusCodes.Status504GatewayTimeout => GrpcStatusCode.DeadlineExceeded,
        StatusCodes.Status400BadRequest => GrpcStatusCode.Internal,
        _ => GrpcStatusCode.Unavailable,
    };

    /// <summary>
    /// Answers a call the proxy could not complete: a trailers-only response (HTTP 200, <c>grpc-status</c> and
    /// <c>grpc-message</c> in the headers) when nothing was sent yet, else the status as trailers after what the
    /// upstream sent; when neither is possible, the stream is reset.
    /// </summary>
    public static Task WriteFailureAsync(HttpContext context, GrpcStatusCode status, string message)
    {
        var response = context.Response;
        if (!response.HasStarted)
        {
            response.Clear();
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "application/grpc";
            response.Headers["grpc-status"] = ((int)status).ToString(CultureInfo.InvariantCulture);
            response.Headers["grpc-message"] = EncodeMessage(message);
            return Task.CompletedTask;
        }

        if (response.SupportsTrailers())
        {
            response.AppendTrailer("grpc-status", ((int)status).ToString(CultureInfo.InvariantCulture));
            response.AppendTrailer("grpc-message", EncodeMessage(message));
            return Task.CompletedTask;
        }

        context.Abort();
        return Task.CompletedTask;
    }

    /// <summary>Percent-encodes a status message as the protocol asks (anything outside printable ASCII, and '%').</summary>
    public static string EncodeMessage(string message)
    {
        var bytes = Encoding.UTF8.GetBytes(message);
        var text = new StringBuilder(bytes.Length);
        foreach (var b in bytes)
        {
            if (b is >= 0x20 and <= 0x7E && b != (byte)'%')
            {
                text.Append((char)b);
            }
            else
            {
                text.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return text.ToString();
    }
}
