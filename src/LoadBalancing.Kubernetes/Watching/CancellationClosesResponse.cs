namespace LoadBalancing.Kubernetes.Watching;

/// <summary>
/// Ties every API response to the cancellation of the call that made it. KubernetesClient's watch enumerator
/// reacts to cancellation by abandoning the task it awaits rather than cancelling it; a watch cancelled while
/// its response is being set up is left open, holding a connection to the API server until that server ends it
/// (seen in tests: the fake API server's shutdown waited 30 s for such connections). Disposing the response when
/// the call's token fires closes it whatever the client library does.
/// </summary>
internal sealed class CancellationClosesResponse : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.Register(static state => ((HttpResponseMessage)state!).Dispose(), response);
            response.RequestMessage ??= request;
            request.Options.Set(RegistrationKey, registration);
        }

        return response;
    }

    private static readonly HttpRequestOptionsKey<CancellationTokenRegistration> RegistrationKey = new("lb.cancellation-closes-response");
}
