using LoadBalancing.Http.Balancing;

namespace LoadBalancing.Http.Tests.Balancing;

public sealed class RewriteTests
{
    [Theory]
    [InlineData("http://payments/orders/7?full=1#top", "10.0.0.7", 8080, "http://10.0.0.7:8080/orders/7?full=1#top")]
    [InlineData("https://payments/", "10.0.0.7", 443, "https://10.0.0.7/")]
    [InlineData("http://payments:9000/a", "fd00::7", 8080, "http://[fd00::7]:8080/a")]
    [InlineData("http://payments/a%20b", "pod-1.payments.prod.svc", 80, "http://pod-1.payments.prod.svc/a%20b")]
    public void Rewrite_HostAndPortBecomeTheEndpoints_RestKept(string original, string address, int port, string expected) =>
        Assert.Equal(new Uri(expected), LoadBalancingHandler.Rewrite(new Uri(original), new BackendEndpoint(address, port)));
}
