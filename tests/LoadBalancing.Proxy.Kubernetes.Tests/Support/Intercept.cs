using k8s;
using LoadBalancing.Kubernetes.Tests.Support;

namespace LoadBalancing.Proxy.Kubernetes.Tests.Support;

/// <summary>
/// A real KubernetesClient pointed at the test API server, with a hook that runs before each request leaves: a test
/// changes an object there, between the code's read and its write, to make the write conflict.
/// </summary>
internal sealed class Intercept : DelegatingHandler
{
    /// <summary>Runs before each request is sent; may be replaced at any time.</summary>
    public Func<HttpRequestMessage, Task>? BeforeSend { get; set; }

    public static (k8s.Kubernetes Client, Intercept Hook) Client(FakeApiServer server)
    {
        var hook = new Intercept();
        return (new k8s.Kubernetes(new KubernetesClientConfiguration { Host = server.Url }, hook), hook);
    }

    /// <summary>Runs <paramref name="action"/> before the first request that matches, once.</summary>
    public void Once(Func<HttpRequestMessage, bool> match, Action action)
    {
        var done = 0;
        BeforeSend = request =>
        {
            if (match(request) && Interlocked.Exchange(ref done, 1) == 0)
            {
                action();
            }

            return Task.CompletedTask;
        };
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (BeforeSend is { } hook)
        {
            await hook(request);
        }

        return await base.SendAsync(request, cancellationToken);
    }
}
