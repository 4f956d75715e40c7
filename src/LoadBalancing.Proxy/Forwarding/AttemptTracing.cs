using System.Diagnostics;
using LoadBalancing.Proxy.Metrics;
using Microsoft.AspNetCore.Http;

namespace LoadBalancing.Proxy.Forwarding;

/// <summary>
/// Distributed tracing of forwarded requests, on the <c>LoadBalancing.Proxy</c> activity source: a client span per
/// attempt (an upstream request), named by its method and tagged as OpenTelemetry's HTTP client spans are, whose
/// context the upstream gets in <c>traceparent</c>. Its parent is the request's server span when the host made one
/// (ASP.NET Core does while something listens to it), else the client's <c>traceparent</c>. With nothing listening
/// to this source no span is made: the upstream then gets the host's server span as its parent when there is one,
/// and otherwise the client's trace fields exactly as sent. Untraced, a request pays a check of the source and a read
/// of <see cref="Activity.Current"/>, and allocates nothing.
/// </summary>
internal static class AttemptTracing
{
    public const string SourceName = "LoadBalancing.Proxy";

    private static readonly ActivitySource Source = new(SourceName);

    /// <summary>
    /// Starts the span of one attempt into <see cref="Exchange.Span"/>; nothing when nothing listens or the sampler
    /// declines it. The previous attempt's span has ended, so each attempt's parent is the request's.
    /// </summary>
    public static void Start(HttpContext context, Exchange exchange, string cluster, Upstream.UpstreamPool pool, string protocolVersion)
    {
        if (!Source.HasListeners())
        {
            return;
        }

        // The host's span, when there is one, is the parent (and Current again once the attempt's span ends).
        var request = context.Request;
        var span = Activity.Current is not null
            ? Source.StartActivity(request.Method, ActivityKind.Client)
            : Source.StartActivity(request.Method, ActivityKind.Client, Inbound(request.Headers));
        if (span is null)
        {
            return;
        }

        exchange.Span = span;
        exchange.TraceId = span.TraceId;
        if (span.IsAllDataRequested)
        {
            var endpoint = pool.Endpoint;
            span.SetTag("http.request.method", request.Method);
            span.SetTag("server.address", endpoint.Address);
            span.SetTag("server.port", endpoint.Port);
            span.SetTag("url.full", string.Concat(pool.Scheme, "://", pool.Authority, Routing.RequestTarget.OriginForm(context)));
            span.SetTag("network.protocol.version", protocolVersion);
            span.SetTag("lb.cluster", cluster);
            if (exchange.Attempts > 1)
            {
                span.SetTag("http.request.resend_count", exchange.Attempts - 1);
            }
        }
    }

    /// <summary>A gRPC call's status (<c>grpc-status</c>, from the trailers or a trailers-only answer) on its span.</summary>
    public static void GrpcStatus(Exchange exchange, HttpResponseMessage response)
    {
        if (exchange.Span is { IsAllDataRequested: true } span && Grpc.GrpcCalls.Status(response) is { } status)
        {
            span.SetTag("rpc.grpc.status_code", status);
        }
    }

    /// <summary>Ends the attempt's span, if it has one: the upstream's status, or what failed.</summary>
    public static void End(Exchange exchange)
    {
        if (exchange.Span is not { } span)
        {
            return;
        }

        exchange.Span = null;
        if (span.IsAllDataRequested)
        {
            if (exchange.UpstreamStatus != 0)
            {
                span.SetTag("http.response.status_code", exchange.UpstreamStatus);
            }

            // A client span's error: the exchange failed, or the upstream answered 4xx or 5xx (OpenTelemetry's HTTP
            // conventions; a server span leaves 4xx unset, a client span marks it).
            var last = exchange.Last;
            if (!last.Done && last.Error != UpstreamError.ClientAborted && !last.IsStatusRetry)
            {
                span.SetTag("error.type", ClusterMetrics.ErrorNames[(int)last.Error]);
                span.SetStatus(ActivityStatusCode.Error);
            }
            else if (exchange.UpstreamStatus >= 400)
            {
                span.SetTag("error.type", StatusText(exchange.UpstreamStatus));
                span.SetStatus(ActivityStatusCode.Error);
            }
        }

        span.Stop();
    }

    /// <summary>
    /// The span the upstream is told to continue: this attempt's, else the host's server span; null when neither
    /// exists (the client's own trace fields then pass through) or ids are not W3C.
    /// </summary>
    public static Activity? Propagated(Exchange exchange) =>
        (exchange.Span ?? Activity.Current) is { IdFormat: ActivityIdFormat.W3C } span ? span : null;

    /// <summary>Whether a request field is one of the W3C trace context's, which a propagated span replaces.</summary>
    public static bool IsTraceContextField(ReadOnlySpan<char> name) =>
        name.Equals("traceparent", StringComparison.OrdinalIgnoreCase) || name.Equals("tracestate", StringComparison.OrdinalIgnoreCase);

    private static ActivityContext Inbound(IHeaderDictionary headers)
    {
        var traceParent = headers[TraceParent];
        return traceParent.Count == 1 && ActivityContext.TryParse(traceParent[0], headers[TraceState].ToString(), isRemote: true, out var context)
            ? context
            : default;
    }

    private const string TraceParent = "traceparent";
    private const string TraceState = "tracestate";

    private static string StatusText(int status) => status.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
