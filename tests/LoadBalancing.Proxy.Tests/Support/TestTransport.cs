namespace LoadBalancing.Proxy.Tests.Support;

/// <summary>
/// LB_TEST_TRANSPORT=EventLoop (or Sockets) runs every proxy the tests start on that transport, so the whole suite can
/// be run on the event-loop transport: <c>LB_TEST_TRANSPORT=EventLoop dotnet test --project tests/LoadBalancing.Proxy.Tests</c>.
/// </summary>
internal static class TestTransport
{
    public static ProxyOptions Apply(ProxyOptions options)
    {
        if (Enum.TryParse<ProxyTransport>(Environment.GetEnvironmentVariable("LB_TEST_TRANSPORT"), ignoreCase: true, out var transport))
        {
            options.Transport = transport;
        }

        return options;
    }
}
