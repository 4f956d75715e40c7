namespace LoadBalancing.Proxy.Kubernetes.Tests.Support;

/// <summary>Sends each request with this Host (<c>:authority</c> over HTTP/2), as a client of that name would: a gRPC channel to a loopback port otherwise names the port.</summary>
internal sealed class AuthorityHandler(string host) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.Host = host;
        return base.SendAsync(request, cancellationToken);
    }
}
