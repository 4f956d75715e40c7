using System.Net;
using LoadBalancing.Http.Internal;
using Microsoft.Extensions.Logging;

namespace LoadBalancing.Http.Balancing;

/// <summary>
/// Sends each request for the logical host to an endpoint the service's balancer picks, rewriting the request URI to
/// that endpoint, and reports how it went: the status and the time to the response headers, or the send's exception.
/// Retries on another endpoint when nothing was sent (a connect failure) or when the request may safely be sent twice
/// (an idempotent method with replayable content). Requests for other hosts pass through untouched.
/// </summary>
internal sealed partial class LoadBalancingHandler : DelegatingHandler
{
    private readonly HttpServiceRegistry _registry;
    private readonly string _serviceName;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private HttpService? _service;

    public LoadBalancingHandler(HttpServiceRegistry registry, string serviceName, TimeProvider time, ILogger logger)
    {
        _registry = registry;
        _serviceName = serviceName;
        _time = time;
        _logger = logger;
    }

    // Created on the first request: the source (Kubernetes discovery, for one) may not exist when the client is built.
    private HttpService Service => _service ??= _registry.Get(_serviceName);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        SendCoreAsync(request, async: true, cancellationToken).AsTask();

    // HttpClient.Send: the same path, run synchronously (every await below completes at once when async is false).
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var send = SendCoreAsync(request, async: false, cancellationToken);
        return send.IsCompleted ? send.Result : send.AsTask().GetAwaiter().GetResult();
    }

    private ValueTask<HttpResponseMessage> InnerSendAsync(HttpRequestMessage request, bool async, CancellationToken cancellationToken) =>
        async ? new ValueTask<HttpResponseMessage>(base.SendAsync(request, cancellationToken)) : new ValueTask<HttpResponseMessage>(base.Send(request, cancellationToken));

    private async ValueTask<HttpResponseMessage> SendCoreAsync(HttpRequestMessage request, bool async, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var original = request.RequestUri;
        if (original is null || !original.IsAbsoluteUri || !string.Equals(original.Host, _serviceName, StringComparison.OrdinalIgnoreCase))
        {
            return await InnerSendAsync(request, async, cancellationToken).ConfigureAwait(false);
        }

        var service = Service;
        var context = service.KeyOf(request);
        var pick = service.Balancer.Pick(in context);
        if (!pick.HasEndpoint)
        {
            _registry.Metrics.NoEndpoint(service.Name);
            throw NoEndpoint(service);
        }

        // Only a request that is retried needs the list of endpoints it tried.
        BackendEndpoint[]? tried = null;
        var attempt = 1;
        while (true)
        {
            var endpoint = pick.Endpoint!;
            request.RequestUri = Rewrite(original, endpoint);
            var started = _time.GetTimestamp();
            HttpResponseMessage response;
            try
            {
                response = await InnerSendAsync(request, async, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The caller gave up (or its timeout fired): nothing to learn about the endpoint.
                pick.Release();
                throw;
            }
            catch (Exception e)
            {
                pick.Complete(success: false, _time.GetElapsedTime(started));
                _registry.Metrics.Attempt(service.Name, "error");
                var unsent = RetryRules.IsUnsent(e);
                if (attempt < service.MaxAttempts && (unsent || RetryRules.CanResend(request))
                    && TryPickAnother(service, endpoint, ref tried, attempt, out pick))
                {
                    _registry.Metrics.Retry(service.Name, unsent ? "connect_failure" : "error");
                    Log.Retrying(_logger, service.Name, endpoint, unsent ? "connect failure" : e.GetType().Name, attempt);
                    attempt++;
                    continue;
                }

                throw;
            }

            var status = (int)response.StatusCode;
            var succeeded = !RetryRules.IsFailure(response.StatusCode);
            pick.Complete(succeeded, _time.GetElapsedTime(started));
            _registry.Metrics.Attempt(service.Name, succeeded ? "success" : "failure");
            if (attempt < service.MaxAttempts && service.RetryStatusCodes is { } statuses && statuses.Contains(status)
                && RetryRules.CanResend(request) && TryPickAnother(service, endpoint, ref tried, attempt, out pick))
            {
                _registry.Metrics.Retry(service.Name, "status");
                Log.Retrying(_logger, service.Name, endpoint, "HTTP " + status.ToString(System.Globalization.CultureInfo.InvariantCulture), attempt);
                response.Dispose();
                attempt++;
                continue;
            }

            return response;
        }
    }

    private static bool TryPickAnother(HttpService service, BackendEndpoint failed, ref BackendEndpoint[]? tried, int attempt, out PickResult pick)
    {
        tried ??= new BackendEndpoint[service.MaxAttempts];
        tried[attempt - 1] = failed;
        pick = service.Balancer.PickExcluding(tried.AsSpan(0, attempt));
        return pick.HasEndpoint;
    }

    internal static Uri Rewrite(Uri original, BackendEndpoint endpoint)
    {
        // UriBuilder brackets an IPv6 address itself.
        var builder = new UriBuilder(original) { Host = endpoint.Address, Port = endpoint.Port };
        return builder.Uri;
    }

    private static HttpRequestException NoEndpoint(HttpService service)
    {
        var set = service.Source.Current;
        var why = set.Version == 0 && service.Source.LastConfirmed is null
            ? "its endpoints are not known yet (the source has not synced)"
            : set.Count == 0 ? "its source has no endpoints" : "every endpoint is ejected, unhealthy or not ready";
        return new HttpRequestException(HttpRequestError.ConnectionError, $"No endpoint for '{service.Name}': {why}.", null, statusCode: null);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Request to '{Service}' failed on {Endpoint} ({Reason}, attempt {Attempt}); retrying on another endpoint.", EventName = "Retrying")]
        public static partial void Retrying(ILogger logger, string service, BackendEndpoint endpoint, string reason, int attempt);
    }
}
